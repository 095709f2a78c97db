import type { StaffSession } from "../staff";
import { h } from "../shared/dom";
import { duration, shortTime } from "./format";
import type { CallRecord } from "./types";
import { t } from "../staff/texts";

const OUTCOMES = (): Record<string, string> => ({
  ended: t("outcome.ended"),
  abandoned: t("outcome.abandoned"),
  active: t("outcome.active"),
  waiting: t("outcome.waiting"),
  ringing: t("outcome.ringing"),
});

/** The adviser's own recent calls (``GET /api/v1/calls?mine=true``, also for supervisors and admins). */
export class HistoryView {
  readonly el: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly status: HTMLParagraphElement;

  constructor(
    private readonly session: StaffSession,
    private readonly queueName: (id: string) => string,
  ) {
    this.body = h("tbody");
    this.status = h("p", { class: "muted", role: "status" });
    this.el = h(
      "section",
      { class: "card history", "aria-labelledby": "history-title", "data-part": "history" },
      h(
        "div",
        { class: "card-head" },
        h("h2", { id: "history-title" }, t("history.title")),
        h("button", { type: "button", class: "btn small", onclick: () => void this.load() }, t("app.refresh")),
      ),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "sr" }, t("history.caption")),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...[t("col.when"), t("col.reference"), t("col.queue"), t("col.language"), t("col.waited"), t("col.length"), t("col.outcome")].map((title) =>
                h("th", { scope: "col" }, title),
              ),
            ),
          ),
          this.body,
        ),
      ),
      this.status,
    );
  }

  async load(): Promise<void> {
    try {
      const calls = await this.session.fetch<CallRecord[]>("/api/v1/calls?limit=20&mine=true");
      this.body.replaceChildren(...calls.map((call) => this.row(call)));
      this.status.textContent = calls.length ? "" : t("history.none");
    } catch {
      this.status.textContent = t("history.failed");
    }
  }

  private row(call: CallRecord): HTMLTableRowElement {
    const length =
      call.accepted_at && call.ended_at
        ? duration((Date.parse(call.ended_at) - Date.parse(call.accepted_at)) / 1000)
        : "–";
    return h(
      "tr",
      {},
      h("td", {}, shortTime(call.created_at)),
      h("td", { class: "mono" }, call.reference),
      h("td", {}, this.queueName(call.queue_id)),
      h("td", {}, (call.language ?? "–").toUpperCase()),
      h("td", {}, call.waited_seconds === null ? "–" : duration(call.waited_seconds)),
      h("td", {}, length),
      h("td", {}, OUTCOMES()[call.status] ?? call.status),
    );
  }
}
