import { copyText, field, h, replace } from "../shared/dom";
import type { Context } from "./context";
import { busy, button, load, Message, row, section, table, when } from "./ui";

/** ``/api/v1/webhooks``: never the signing secret, which is shown once when it is made. */
interface Webhook {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  created_at: string;
}

interface Delivery {
  id: string;
  event: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

const EVENTS = ["call.ended", "recording.stored", "transcript.ready", "data.erased"];

/** Webhooks: where Loket posts signed events, and how each delivery went. */
export function webhooksSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", { class: "webhooks" });
  const shown = h("div", { class: "new-key", hidden: true, role: "status" });
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const hooks = await ctx.api.get<Webhook[]>("/webhooks");
      if (hooks.length === 0) return h("p", { class: "muted" }, "No webhooks yet.");
      return h("div", {}, ...hooks.map((hook) => hookCard(ctx, hook, message, refresh)));
    });
  void refresh();
  return section(
    "Webhooks",
    "Loket posts these events to your endpoints, signed with the endpoint's secret, and retries failed deliveries.",
    message.el,
    shown,
    list,
    createForm(ctx, message, shown, refresh),
  );
}

function hookCard(ctx: Context, hook: Webhook, message: Message, refresh: () => Promise<void>): HTMLElement {
  const deliveries = h("div", {});
  const show = button("Delivery attempts", () => {
    void load(deliveries, message, async () => {
      const found = await ctx.api.get<Delivery[]>(`/webhooks/${hook.id}/deliveries`, { limit: "50" });
      return table(
        `Deliveries to ${hook.url}`,
        ["Event", "Created", "Status", "Attempts", "Last answer", "Next attempt", "Delivered"],
        found.map((delivery) =>
          row(
            delivery.event,
            when(delivery.created_at),
            delivery.status,
            String(delivery.attempts),
            delivery.last_status_code !== null ? `HTTP ${delivery.last_status_code}` : (delivery.last_error ?? "—"),
            when(delivery.next_attempt_at),
            when(delivery.delivered_at),
          ),
        ),
        "Nothing delivered yet.",
      );
    });
  });
  const toggle = button(hook.active ? "Switch off" : "Switch on", () => {
    void busy(toggle, message, async () => {
      await ctx.api.patch<Webhook>(`/webhooks/${hook.id}`, { active: !hook.active });
      await refresh();
    });
  });
  const remove = button("Delete", () => {
    if (!confirm(`Delete the webhook to ${hook.url} and its delivery history?`)) return;
    void busy(remove, message, async () => {
      await ctx.api.delete(`/webhooks/${hook.id}`);
      message.ok("Webhook deleted.");
      await refresh();
    });
  });
  return h(
    "article",
    { class: hook.active ? "key" : "key inactive", "data-webhook": hook.id },
    h(
      "div",
      { class: "key-head" },
      h("code", { class: "mono" }, hook.url),
      h("span", { class: hook.active ? "pill ok" : "pill off" }, hook.active ? "Active" : "Off"),
      h("span", { class: "muted" }, hook.events.join(", ")),
    ),
    h("div", { class: "actions" }, show, toggle, remove),
    deliveries,
  );
}

function createForm(ctx: Context, message: Message, shown: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://crm.example.com/loket" });
  const events = h(
    "fieldset",
    { class: "scopes" },
    h("legend", {}, "Events"),
    ...EVENTS.map((event) => {
      const box = h("input", { type: "checkbox", name: "event", value: event, id: `event-${event}` });
      return h("label", { for: box.id, class: "scope" }, box, ` ${event}`);
    }),
  );
  const save = h("button", { type: "submit", class: "btn primary" }, "Create webhook");
  const form = h(
    "form",
    { class: "editor", "aria-label": "New webhook" },
    h("h3", {}, "New webhook"),
    field("Endpoint URL", url, "HTTPS, reachable from the Loket server."),
    events,
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = [...events.querySelectorAll<HTMLInputElement>("input[name=event]:checked")].map((box) => box.value);
    void busy(save, message, async () => {
      const created = await ctx.api.post<Webhook & { secret: string }>("/webhooks", { url: url.value.trim(), events: chosen });
      const copy = button("Copy secret", () => {
        void copyText(created.secret).then((ok) => {
          copy.textContent = ok ? "Copied" : "Select and copy it by hand";
        });
      });
      replace(
        shown,
        h("p", {}, h("strong", {}, "Webhook created. "), "Its signing secret is shown this once:"),
        h("pre", {}, h("code", { class: "mono", "data-part": "webhook-secret" }, created.secret)),
        copy,
      );
      shown.hidden = false;
      form.reset();
      await refresh();
    });
  });
  return form;
}
