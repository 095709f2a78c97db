import { copyText, field, h, replace } from "../shared/dom";
import type { Context } from "./context";
import { busy, button, load, Message, row, section, table, when } from "./ui";
import { t } from "../staff/texts";

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
      if (hooks.length === 0) return h("p", { class: "muted" }, t("webhooks.noWebhooksYet"));
      return h("div", {}, ...hooks.map((hook) => hookCard(ctx, hook, message, refresh)));
    });
  void refresh();
  return section(
    t("nav.webhooks"),
    t("webhooks.loketPostsTheseEvents"),
    message.el,
    shown,
    list,
    createForm(ctx, message, shown, refresh),
  );
}

function hookCard(ctx: Context, hook: Webhook, message: Message, refresh: () => Promise<void>): HTMLElement {
  const deliveries = h("div", {});
  const show = button(t("webhooks.deliveryAttempts"), () => {
    void load(deliveries, message, async () => {
      const found = await ctx.api.get<Delivery[]>(`/webhooks/${hook.id}/deliveries`, { limit: "50" });
      return table(
        t("webhooks.deliveriesTo", { url: hook.url }),
        [t("webhooks.event"), t("webhooks.created"), t("users.status"), t("webhooks.attempts"), t("webhooks.lastAnswer"), t("webhooks.nextAttempt"), t("webhooks.delivered")],
        found.map((delivery) =>
          row(
            h("code", {}, delivery.event),
            when(delivery.created_at),
            delivery.status,
            String(delivery.attempts),
            delivery.last_status_code !== null ? `HTTP ${delivery.last_status_code}` : (delivery.last_error ?? "—"),
            when(delivery.next_attempt_at),
            when(delivery.delivered_at),
          ),
        ),
        t("webhooks.nothingDeliveredYet"),
      );
    });
  });
  const toggle = button(hook.active ? t("webhooks.switchOff") : t("webhooks.switchOn"), () => {
    void busy(toggle, message, async () => {
      await ctx.api.patch<Webhook>(`/webhooks/${hook.id}`, { active: !hook.active });
      await refresh();
    });
  });
  const remove = button(t("queues.delete"), () => {
    if (!confirm(t("webhooks.deleteTheWebhookTo", { url: hook.url }))) return;
    void busy(remove, message, async () => {
      await ctx.api.delete(`/webhooks/${hook.id}`);
      message.ok(t("webhooks.webhookDeleted"));
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
      h("span", { class: hook.active ? "pill ok" : "pill off" }, hook.active ? t("users.active") : t("queues.off")),
      h("span", { class: "muted", translate: "no" }, hook.events.join(", ")),
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
    h("legend", {}, t("webhooks.events")),
    ...EVENTS.map((event) => {
      const box = h("input", { type: "checkbox", name: "event", value: event, id: `event-${event}` });
      return h("label", { for: box.id, class: "scope", translate: "no" }, box, ` ${event}`);
    }),
  );
  const save = h("button", { type: "submit", class: "btn primary" }, t("webhooks.createWebhook"));
  const form = h(
    "form",
    { class: "editor", "aria-label": t("webhooks.newWebhook") },
    h("h3", {}, t("webhooks.newWebhook")),
    field(t("webhooks.endpointUrl"), url, t("webhooks.httpsReachable")),
    events,
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = [...events.querySelectorAll<HTMLInputElement>("input[name=event]:checked")].map((box) => box.value);
    void busy(save, message, async () => {
      const created = await ctx.api.post<Webhook & { secret: string }>("/webhooks", { url: url.value.trim(), events: chosen });
      const copy = button(t("webhooks.copySecret"), () => {
        void copyText(created.secret).then((ok) => {
          copy.textContent = ok ? t("apikeys.copied") : t("apikeys.selectAndCopyIt");
        });
      });
      replace(
        shown,
        h("p", {}, h("strong", {}, t("webhooks.webhookCreated")), t("webhooks.itsSigningSecretIs")),
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
