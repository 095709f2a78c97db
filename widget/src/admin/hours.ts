/** Opening hours as people type them: one line per day, "09:00-12:30, 13:30-17:30"; empty is closed. */
import type { OpeningHours } from "./api";
import { t } from "../staff/texts";

export const DAYS = (): [string, string][] => [
  ["mon", t("hours.monday")],
  ["tue", t("hours.tuesday")],
  ["wed", t("hours.wednesday")],
  ["thu", t("hours.thursday")],
  ["fri", t("hours.friday")],
  ["sat", t("hours.saturday")],
  ["sun", t("hours.sunday")],
];

const TIME = /^([01]?\d|2[0-4]):([0-5]\d)$/;

export function formatDay(intervals: string[][] | undefined): string {
  return (intervals ?? []).map(([start, end]) => `${start}-${end}`).join(", ");
}

/** Parse one day's text; throws with a message naming the day when it cannot be read. */
export function parseDay(label: string, text: string): string[][] {
  const intervals: string[][] = [];
  for (const part of text.split(",").map((piece) => piece.trim()).filter(Boolean)) {
    const [start, end, extra] = part.split(/\s*[-–]\s*/);
    if (!start || !end || extra !== undefined || !TIME.test(start) || !TIME.test(end)) {
      throw new Error(t("hours.writeTimesLike09", { label }));
    }
    intervals.push([pad(start), pad(end)]);
  }
  return intervals;
}

export function parseWeek(texts: Record<string, string>): OpeningHours {
  const hours: OpeningHours = {};
  for (const [key, label] of DAYS()) {
    const intervals = parseDay(label, texts[key] ?? "");
    if (intervals.length) hours[key] = intervals;
  }
  return hours;
}

function pad(time: string): string {
  return time.length === 4 ? `0${time}` : time;
}
