import { field, h, replace } from "../shared/dom";
import type { StaffSession } from "../staff/session";
import type { Queue, User } from "./api";
import type { Context } from "./context";
import { downloadCsv } from "./download";
import { busy, button, Message, row, seconds, section, table, when } from "./ui";
import { t } from "../staff/texts";

const PAGE = 50;

/** A call as ``GET /calls`` lists it: metadata only, nothing about the visitor. */
interface CallListed {
  id: string;
  queue_id: string | null;
  adviser_id: string | null;
  reference: string;
  language: string | null;
  status: string;
  end_reason: string | null;
  created_at: string;
  accepted_at: string | null;
  ended_at: string | null;
  waited_seconds: number | null;
}

const OUTCOMES = (): [string, string][] => [
  ["", t("calls.anyOutcome")],
  ["ended", t("outcome.ended")],
  ["abandoned", t("outcome.abandoned")],
  ["active", t("outcome.active")],
  ["waiting", t("desk.waiting")],
  ["ringing", t("outcome.ringing")],
];

/**
 * The call history with filters (queue, adviser, outcome, period) and a CSV download of every
 * call the filters select. Dates are the organisation's days (the server reads bare dates so).
 */
export function callsSection(ctx: Context, session: StaffSession): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const more = h("button", { type: "button", class: "btn", hidden: true }, t("calls.olderCalls"));
  const queue = h("select", { name: "queue_id" }, h("option", { value: "" }, t("calls.allQueues")));
  const adviser = h("select", { name: "adviser_id" }, h("option", { value: "" }, t("calls.allAdvisers")));
  const outcome = h("select", { name: "outcome" }, ...OUTCOMES().map(([value, label]) => h("option", { value }, label)));
  const from = h("input", { type: "date", name: "from" });
  const to = h("input", { type: "date", name: "to" });
  const queueNames = new Map<string, string>();
  const adviserNames = new Map<string, string>();
  let shown: CallListed[] = [];

  const filters = (): Record<string, string | undefined> => ({
    queue_id: queue.value || undefined,
    adviser_id: adviser.value || undefined,
    outcome: outcome.value || undefined,
    from: from.value || undefined,
    to: to.value || undefined,
  });
  const fetchPage = (after?: CallListed): Promise<CallListed[]> =>
    ctx.api.get<CallListed[]>("/calls", { ...filters(), limit: String(PAGE), before: after?.created_at, before_id: after?.id });
  const render = (): void => {
    replace(
      list,
      table(
        t("nav.calls"),
        [t("calls.joined"), t("col.reference"), t("desk.queue"), t("calls.adviser"), t("col.outcome"), t("calls.endReason"), t("col.waited"), t("col.length")],
        shown.map((call) => {
          const tr = row(
            when(call.created_at),
            h("code", { class: "mono" }, call.reference),
            call.queue_id ? (queueNames.get(call.queue_id) ?? "—") : "—",
            call.adviser_id ? (adviserNames.get(call.adviser_id) ?? "—") : "—",
            outcomeLabel(call.status),
            call.end_reason ?? "—",
            seconds(call.waited_seconds),
            call.accepted_at && call.ended_at ? seconds((Date.parse(call.ended_at) - Date.parse(call.accepted_at)) / 1000) : "—",
          );
          tr.dataset["call"] = call.id;
          return tr;
        }),
        t("calls.noCallsMatch"),
      ),
    );
  };
  const reload = (): Promise<void> =>
    busy(null, message, async () => {
      shown = await fetchPage();
      more.hidden = shown.length < PAGE;
      render();
    });
  more.addEventListener("click", () => {
    void busy(more, message, async () => {
      const page = await fetchPage(shown[shown.length - 1]);
      shown = [...shown, ...page];
      more.hidden = page.length < PAGE;
      render();
    });
  });
  const download = button(t("calls.downloadCsv"), () => void busy(download, message, () => downloadCsv(session, "/calls", filters(), "calls.csv")));

  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": t("calls.filterCalls") },
    field(t("desk.queue"), queue),
    field(t("calls.adviser"), adviser),
    field(t("col.outcome"), outcome),
    field(t("calls.from"), from),
    field(t("calls.to"), to),
    h("button", { type: "submit", class: "btn small" }, t("calls.filter")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void reload();
  });

  void busy(null, message, async () => {
    const [queues, users] = await Promise.all([ctx.api.get<Queue[]>("/queues"), ctx.api.get<User[]>("/users")]);
    for (const q of queues) {
      queueNames.set(q.id, q.name);
      queue.append(h("option", { value: q.id }, q.name));
    }
    for (const user of users) {
      const name = user.display_name || user.email;
      adviserNames.set(user.id, name);
      if (user.role === "adviser" || user.role === "supervisor") adviser.append(h("option", { value: user.id }, name));
    }
  }).then(reload);

  return section(
    t("nav.calls"),
    t("calls.everyCallOfThe"),
    message.el,
    form,
    h("p", {}, download),
    list,
    more,
  );
}

function outcomeLabel(status: string): string {
  return OUTCOMES().find(([value]) => value === status)?.[1] ?? status;
}
