import { field, h, replace } from "../shared/dom";
import type { DayStatistics, Statistics } from "./api";
import type { StaffSession } from "../staff/session";
import type { Context } from "./context";
import { downloadCsv } from "./download";
import { busy, button, Message, seconds, section } from "./ui";
import { t } from "../staff/texts";

/** Calls answered and abandoned, waiting times, visitors' ratings and transfers per day, as a table with small CSS bars. */
export function statisticsSection(ctx: Context, session: StaffSession): HTMLElement {
  const message = new Message();
  const output = h("div", {});
  const days = h("select", { name: "days" }, ...[7, 14, 30, 90].map((n) => h("option", { value: String(n) }, t("statistics.lastDays", { n }))));
  days.value = "14";
  const show = (): Promise<void> =>
    busy(null, message, async () => {
      const stats = await ctx.api.get<Statistics>("/statistics", { days: days.value });
      replace(output, render(stats));
    });
  days.addEventListener("change", () => void show());
  void show();
  const download = button(t("statistics.downloadCsv"), () => void busy(download, message, () => downloadCsv(session, "/statistics", { days: days.value }, "statistics.csv")));
  return section(
    t("nav.statistics"),
    t("statistics.callsPerDayUtc"),
    message.el,
    h("div", { class: "filters" }, field(t("statistics.period"), days)),
    h("p", {}, download, " ", h("span", { class: "help" }, t("statistics.downloadHelp"))),
    output,
  );
}

function render(stats: Statistics): HTMLElement {
  const peak = Math.max(1, ...stats.per_day.map((d) => d.total));
  const totals = stats.totals;
  const rate = totals.total ? Math.round((totals.answered / totals.total) * 100) : 0;
  const rows = [...stats.per_day].reverse().map((d) => dayRow(d, peak));
  return h(
    "div",
    {},
    h(
      "div",
      { class: "tiles" },
      tile(t("nav.calls"), String(totals.total)),
      tile(t("outcome.ended"), `${totals.answered} (${rate}%)`),
      tile(t("outcome.abandoned"), String(totals.abandoned)),
      tile(t("statistics.averageWait"), seconds(totals.average_wait_seconds)),
      tile(t("statistics.longestWait"), seconds(totals.max_wait_seconds)),
      tile(t("statistics.averageRating"), stars(totals.average_rating)),
      tile(t("statistics.ratings"), String(totals.ratings)),
      tile(t("statistics.transfers"), String(totals.transfers)),
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "stats" },
        h("caption", { class: "sr" }, t("statistics.callsPerDay")),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...[t("statistics.day"), t("nav.calls"), t("outcome.ended"), t("outcome.abandoned"), t("statistics.averageWait"), t("statistics.longestWait"), t("statistics.averageRating"), t("statistics.ratings"), t("statistics.transfers")].map((text) => h("th", { scope: "col" }, text)),
          ),
        ),
        h("tbody", {}, ...rows),
      ),
    ),
    h("p", { class: "legend help" }, h("span", { class: "swatch answered" }), ` ${t("statistics.legendAnswered")} `, h("span", { class: "swatch abandoned" }), ` ${t("statistics.legendAbandoned")} `, h("span", { class: "swatch other" }), ` ${t("statistics.legendOther")}`),
  );
}

/** A mean rating out of 5, or a dash when nobody rated. */
function stars(value: number | null): string {
  return value === null ? "—" : `${value.toFixed(1)} / 5`;
}

function tile(label: string, value: string): HTMLElement {
  return h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), h("strong", {}, value));
}

function dayRow(d: DayStatistics, peak: number): HTMLTableRowElement {
  const width = (n: number): string => `width:${((n / peak) * 100).toFixed(1)}%`;
  const other = Math.max(0, d.total - d.answered - d.abandoned);
  const bar = h(
    "span",
    { class: "bar", "aria-hidden": "true" },
    h("span", { class: "answered", style: width(d.answered) }),
    h("span", { class: "abandoned", style: width(d.abandoned) }),
    h("span", { class: "other", style: width(other) }),
  );
  const label = new Date(`${d.day}T00:00:00Z`).toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  const tr = h(
    "tr",
    {},
    h("th", { scope: "row" }, label),
    h("td", { class: "calls" }, h("span", { class: "calls-cell" }, h("span", { class: "num" }, String(d.total)), bar)),
    h("td", {}, String(d.answered)),
    h("td", {}, String(d.abandoned)),
    h("td", {}, seconds(d.average_wait_seconds)),
    h("td", {}, seconds(d.max_wait_seconds)),
    h("td", {}, stars(d.average_rating)),
    h("td", {}, String(d.ratings)),
    h("td", {}, String(d.transfers)),
  );
  tr.dataset["day"] = d.day;
  return tr;
}
