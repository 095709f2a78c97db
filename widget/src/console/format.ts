import { formatDateTime } from "../staff/texts";

/** "0:07", "12:34", "1:02:03". */
export function duration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** "24 Nov, 14:05" in the console's language and the adviser's time zone. */
export function shortTime(iso: string): string {
  return formatDateTime(iso, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}
