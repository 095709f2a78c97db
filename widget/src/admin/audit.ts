import { h, replace } from "../shared/dom";
import type { AuditEvent, User } from "./api";
import type { Context } from "./context";
import { busy, Message, row, section, table, when } from "./ui";
import { t } from "../staff/texts";

const PAGE = 50;

/** The audit log, newest first, a page at a time (hash-chained on the server). */
export function auditSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const position = h("p", { class: "help", "aria-live": "polite" });
  const newer = h("button", { type: "button", class: "btn small" }, t("audit.newer"));
  const older = h("button", { type: "button", class: "btn small" }, t("audit.older"));
  // before_seq of each page shown so far: the first page has none.
  const pages: (number | undefined)[] = [undefined];
  let names = new Map<string, string>();

  const actorName = (actor: string): string => {
    const email = actor.startsWith("user:") ? names.get(actor.slice(5)) : undefined;
    return email ?? actor;
  };
  const show = (): Promise<void> =>
    busy(null, message, async () => {
      const before = pages[pages.length - 1];
      const events = await ctx.api.get<AuditEvent[]>("/audit-events", {
        limit: String(PAGE),
        before_seq: before === undefined ? undefined : String(before),
      });
      replace(
        list,
        table(
          t("audit.auditEvents"),
          ["#", t("col.when"), t("audit.who"), t("audit.what"), t("audit.target"), t("audit.details")],
          events.map((event) => {
            const tr = row(
              String(event.seq),
              h("span", { class: "nowrap" }, when(event.occurred_at)),
              h("span", { translate: "no" }, actorName(event.actor)),
              h("code", {}, event.action),
              h("span", { class: "target", translate: "no" }, event.target),
              h("code", { class: "details" }, Object.keys(event.details).length ? JSON.stringify(event.details) : ""),
            );
            tr.dataset["action"] = event.action;
            return tr;
          }),
          t("audit.noEvents"),
        ),
      );
      const last = events[events.length - 1];
      older.disabled = events.length < PAGE || last === undefined;
      older.dataset["next"] = last ? String(last.seq) : "";
      newer.disabled = pages.length <= 1;
      position.textContent = events.length
        ? t("audit.eventsToPage", { seq: events[0]?.seq ?? "", seq1: last?.seq ?? "", pages: pages.length })
        : "";
    });
  older.addEventListener("click", () => {
    const next = Number(older.dataset["next"]);
    if (!next) return;
    pages.push(next);
    void show();
  });
  newer.addEventListener("click", () => {
    if (pages.length > 1) pages.pop();
    void show();
  });
  if (ctx.role === "admin") {
    // Names for "user:<id>" actors; DPOs cannot list users and see ids.
    void ctx.api.get<User[]>("/users").then(
      (users) => {
        names = new Map(users.map((user) => [user.id, user.email]));
        void show();
      },
      () => void show(),
    );
  } else {
    void show();
  }
  return section(
    t("nav.audit"),
    t("audit.everyChangeDeletionLogin"),
    message.el,
    list,
    h("div", { class: "actions pager" }, newer, older, position),
  );
}
