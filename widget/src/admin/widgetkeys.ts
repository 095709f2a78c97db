import { copyText, field, h } from "../shared/dom";
import type { WidgetKey } from "./api";
import type { Context } from "./context";
import { busy, button, day, load, Message, section } from "./ui";

/** Widget keys: the websites (origins) allowed to embed the widget, and the tag to paste. */
export function widgetKeysSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", { class: "keys" });
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const keys = await ctx.api.get<WidgetKey[]>("/widget-keys");
      if (keys.length === 0) return h("p", { class: "muted" }, "No widget keys yet: create one for your website below.");
      return h("div", { class: "key-list" }, ...keys.map((key) => keyCard(ctx, key, message, refresh)));
    });
  void refresh();
  return section(
    "Widget keys",
    "A key lets the websites you name show the video button. Paste its snippet into every page of those sites.",
    message.el,
    list,
    createForm(ctx, message, refresh),
  );
}

function originsOf(text: string): string[] {
  return text.split(/[\s,]+/).map((origin) => origin.trim().replace(/\/$/, "")).filter(Boolean);
}

function keyCard(ctx: Context, key: WidgetKey, message: Message, refresh: () => Promise<void>): HTMLElement {
  const snippet = h("code", { class: "snippet", "data-part": "snippet" }, key.embed_snippet);
  const copy = button("Copy snippet", () => {
    void copyText(key.embed_snippet).then((ok) => {
      copy.textContent = ok ? "Copied" : "Select and copy it by hand";
    });
  });
  const origins = h("textarea", { rows: 2, "aria-label": `Allowed origins of key ${key.key}` });
  origins.value = key.origins.join("\n");
  const saveOrigins = button("Save origins", () => {
    void busy(saveOrigins, message, async () => {
      await ctx.api.patch<WidgetKey>(`/widget-keys/${key.id}`, { origins: originsOf(origins.value) });
      message.ok("Origins saved.");
      await refresh();
    });
  });
  const contextKeys = h("input", { type: "text", "aria-label": `Context keys of key ${key.key}`, "data-part": "context-keys" });
  contextKeys.value = key.context_keys.join(", ");
  const saveContext = button("Save context keys", () => {
    void busy(saveContext, message, async () => {
      await ctx.api.patch<WidgetKey>(`/widget-keys/${key.id}`, { context_keys: originsOf(contextKeys.value) });
      message.ok("Context keys saved.");
      await refresh();
    });
  });
  const toggle = button(key.active ? "Switch off" : "Switch on", () => {
    if (key.active && !confirm("Switch this key off? The video button disappears from its websites.")) return;
    void busy(toggle, message, async () => {
      await ctx.api.patch<WidgetKey>(`/widget-keys/${key.id}`, { active: !key.active });
      message.ok(key.active ? "Key switched off." : "Key switched on.");
      await refresh();
    });
  });
  const card = h(
    "article",
    { class: key.active ? "key" : "key inactive", "data-key": key.key },
    h(
      "div",
      { class: "key-head" },
      h("code", { class: "mono" }, key.key),
      h("span", { class: key.active ? "pill ok" : "pill off" }, key.active ? "Active" : "Off"),
      h("span", { class: "muted" }, `since ${day(key.created_at)}`),
    ),
    h("div", { class: "snippet-box" }, h("p", { class: "label" }, "Embed snippet"), h("pre", {}, snippet), copy),
    h("div", { class: "field" }, h("p", { class: "label" }, "Allowed origins (one per line)"), origins),
    h("div", { class: "actions" }, saveOrigins, toggle),
    h(
      "div",
      { class: "field" },
      h("p", { class: "label" }, "Context keys the page may pass (comma separated; none: no context)"),
      h("p", { class: "muted" }, "Advisers see them when ringing and in the call, e.g. vehicle, quote. Values that look like e-mail addresses or phone numbers are refused."),
      contextKeys,
    ),
    h("div", { class: "actions" }, saveContext),
  );
  return card;
}

function createForm(ctx: Context, message: Message, refresh: () => Promise<void>): HTMLElement {
  const origins = h("textarea", { name: "origins", rows: 2, placeholder: "https://www.example.com" });
  const save = h("button", { type: "submit", class: "btn primary" }, "Create widget key");
  const form = h(
    "form",
    { class: "editor", "aria-label": "New widget key" },
    h("h3", {}, "New widget key"),
    field("Allowed origins", origins, "The websites that may show the widget, like https://www.garage.example — one per line."),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      const created = await ctx.api.post<WidgetKey>("/widget-keys", { origins: originsOf(origins.value) });
      message.ok(`Widget key ${created.key} created: copy its snippet below.`);
      form.reset();
      await refresh();
    });
  });
  return form;
}
