import { field, h } from "../shared/dom";
import type { Queue, RetentionKind, RetentionRule } from "./api";
import { type Context, isAdmin } from "./context";
import { busy, button, load, Message, row, section, table, when } from "./ui";
import { t } from "../staff/texts";

export const KINDS = (): [RetentionKind, string][] => [
  ["recordings", t("nav.recordings")],
  ["transcripts", t("nav.transcripts")],
  ["call_metadata", t("retention.callDetailsTimesOutcome")],
  ["chat", t("retention.chatMessages")],
  ["attachments", t("retention.photosSentAndSnapshots")],
];

const kindName = (kind: string): string => KINDS().find(([value]) => value === kind)?.[1] ?? kind;

/** Retention rules: how many days each kind of data is kept, for the organisation or one queue. */
export function retentionSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const form = h("div", {});
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const [rules, queues] = await Promise.all([
        ctx.api.get<RetentionRule[]>("/retention-rules"),
        ctx.api.get<Queue[]>("/queues"),
      ]);
      if (isAdmin(ctx) && !form.firstChild) form.append(createForm(ctx, queues, message, refresh));
      const queueName = (id: string | null): string =>
        id === null ? t("retention.wholeOrganisation") : t("retention.queue", { id: queues.find((queue) => queue.id === id)?.name ?? id });
      return table(
        t("nav.retention"),
        [t("retention.data"), t("retention.appliesTo"), t("retention.keptFor"), t("retention.changed"), ""],
        rules.map((rule) => ruleRow(ctx, rule, queueName(rule.queue_id), message, refresh)),
        t("retention.noRulesEverythingFollows"),
      );
    });
  void refresh();
  return section(
    t("nav.retention"),
    t("retention.afterTheseManyDays"),
    message.el,
    list,
    form,
  );
}

function ruleRow(
  ctx: Context,
  rule: RetentionRule,
  scope: string,
  message: Message,
  refresh: () => Promise<void>,
): HTMLTableRowElement {
  const label = `${kindName(rule.kind)}, ${scope}`;
  let kept: HTMLElement = h("span", {}, `${rule.days} days`);
  let actions: HTMLElement | null = null;
  if (isAdmin(ctx)) {
    const days = h("input", {
      type: "number",
      min: 1,
      max: 3650,
      class: "days",
      value: String(rule.days),
      "aria-label": t("retention.daysToKeep2", { label }),
    });
    const save = button(t("retention.save"), () => {
      void busy(save, message, async () => {
        const changed = await ctx.api.patch<RetentionRule>(`/retention-rules/${rule.id}`, { days: Number(days.value) });
        message.ok(t("retention.keptForDays", { label, days: changed.days }));
        await refresh();
      });
    }, { "aria-label": t("retention.saveDays", { label }) });
    days.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save.click();
    });
    kept = h("span", { class: "inline" }, days, " days ", save);
    const remove = button(t("queues.delete"), () => {
      if (!confirm(t("retention.deleteTheRuleFor", { label }))) return;
      void busy(remove, message, async () => {
        await ctx.api.delete(`/retention-rules/${rule.id}`);
        message.ok(t("retention.ruleForDeleted", { label }));
        await refresh();
      });
    }, { "aria-label": t("retention.deleteRule", { label }) });
    actions = remove;
  }
  const tr = row(kindName(rule.kind), scope, kept, when(rule.updated_at), actions);
  tr.dataset["rule"] = `${rule.kind}:${rule.queue_id ?? "org"}`;
  return tr;
}

function createForm(ctx: Context, queues: Queue[], message: Message, refresh: () => Promise<void>): HTMLElement {
  const kind = h("select", { name: "kind" }, ...KINDS().map(([value, label]) => h("option", { value }, label)));
  const scope = h(
    "select",
    { name: "queue_id" },
    h("option", { value: "" }, t("retention.wholeOrganisation")),
    ...queues.map((queue) => h("option", { value: queue.id }, t("retention.queue2", { name: queue.name }))),
  );
  const days = h("input", { type: "number", name: "days", min: 1, max: 3650, value: "30", required: true });
  const save = h("button", { type: "submit", class: "btn primary" }, t("retention.addRule"));
  const form = h(
    "form",
    { class: "editor", "aria-label": t("retention.newRetentionRule") },
    h("h3", {}, t("retention.newRule")),
    h("div", { class: "grid3" }, field(t("retention.data"), kind), field(t("retention.appliesTo"), scope), field(t("retention.daysToKeep"), days, "1 to 3650.")),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      const payload: Record<string, unknown> = { kind: kind.value, days: Number(days.value) };
      if (scope.value) payload["queue_id"] = scope.value;
      const created = await ctx.api.post<RetentionRule>("/retention-rules", payload);
      message.ok(t("retention.nowKept", { kind: kindName(created.kind), days: created.days }));
      await refresh();
    });
  });
  return form;
}
