import { copyText, field, h } from "../shared/dom";
import type { WidgetKey } from "./api";
import type { Context } from "./context";
import { busy, button, day, load, Message, section } from "./ui";
import { t } from "../staff/texts";

/** Widget keys: the websites (origins) allowed to embed the widget, and the tag to paste. */
export function widgetKeysSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", { class: "keys" });
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const keys = await ctx.api.get<WidgetKey[]>("/widget-keys");
      if (keys.length === 0) return h("p", { class: "muted" }, t("widgetkeys.noWidgetKeysYet"));
      return h("div", { class: "key-list" }, ...keys.map((key) => keyCard(ctx, key, message, refresh)));
    });
  void refresh();
  return section(
    t("nav.widgetKeys"),
    t("widgetkeys.intro"),
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
  const copy = button(t("widgetkeys.copySnippet"), () => {
    void copyText(key.embed_snippet).then((ok) => {
      copy.textContent = ok ? t("apikeys.copied") : t("apikeys.selectAndCopyIt");
    });
  });
  const origins = h("textarea", { rows: 2, "aria-label": t("widgetkeys.allowedOriginsOfKey", { key: key.key }) });
  origins.value = key.origins.join("\n");
  const saveOrigins = button(t("widgetkeys.saveOrigins"), () => {
    void busy(saveOrigins, message, async () => {
      await ctx.api.patch<WidgetKey>(`/widget-keys/${key.id}`, { origins: originsOf(origins.value) });
      message.ok(t("widgetkeys.originsSaved"));
      await refresh();
    });
  });
  const contextKeys = h("input", { type: "text", "aria-label": t("widgetkeys.contextKeysOfKey", { key: key.key }), "data-part": "context-keys" });
  contextKeys.value = key.context_keys.join(", ");
  const saveContext = button(t("widgetkeys.saveContextKeys"), () => {
    void busy(saveContext, message, async () => {
      await ctx.api.patch<WidgetKey>(`/widget-keys/${key.id}`, { context_keys: originsOf(contextKeys.value) });
      message.ok(t("widgetkeys.contextKeysSaved"));
      await refresh();
    });
  });
  const toggle = button(key.active ? t("webhooks.switchOff") : t("webhooks.switchOn"), () => {
    if (key.active && !confirm(t("widgetkeys.switchThisKeyOff"))) return;
    void busy(toggle, message, async () => {
      await ctx.api.patch<WidgetKey>(`/widget-keys/${key.id}`, { active: !key.active });
      message.ok(key.active ? t("widgetkeys.keySwitchedOff") : t("widgetkeys.keySwitchedOn"));
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
      h("span", { class: key.active ? "pill ok" : "pill off" }, key.active ? t("users.active") : t("queues.off")),
      h("span", { class: "muted" }, t("widgetkeys.since", { day: day(key.created_at) })),
    ),
    h("div", { class: "snippet-box" }, h("p", { class: "label" }, t("widgetkeys.embedSnippet")), h("pre", {}, snippet), copy),
    h("div", { class: "field" }, h("p", { class: "label" }, t("widgetkeys.allowedOriginsOnePer")), origins),
    h("div", { class: "actions" }, saveOrigins, toggle),
    h(
      "div",
      { class: "field" },
      h("p", { class: "label" }, t("widgetkeys.contextKeysThePage")),
      h("p", { class: "muted" }, t("widgetkeys.advisersSeeThemWhen")),
      contextKeys,
    ),
    h("div", { class: "actions" }, saveContext),
  );
  return card;
}

function createForm(ctx: Context, message: Message, refresh: () => Promise<void>): HTMLElement {
  const origins = h("textarea", { name: "origins", rows: 2, placeholder: "https://www.example.com" });
  const save = h("button", { type: "submit", class: "btn primary" }, t("widgetkeys.createWidgetKey"));
  const form = h(
    "form",
    { class: "editor", "aria-label": t("widgetkeys.newWidgetKey") },
    h("h3", {}, t("widgetkeys.newWidgetKey")),
    field(t("widgetkeys.allowedOrigins"), origins, t("widgetkeys.theWebsitesThatMay")),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      const created = await ctx.api.post<WidgetKey>("/widget-keys", { origins: originsOf(origins.value) });
      message.ok(t("widgetkeys.widgetKeyCreatedCopy", { key: created.key }));
      form.reset();
      await refresh();
    });
  });
  return form;
}
