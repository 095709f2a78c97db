import { h, replace } from "../shared/dom";
import type { Context } from "./context";
import { Message, row, seconds, section, table } from "./ui";
import { formatDateTime, t } from "../staff/texts";

/** ``GET /wallboard``: the live state of the organisation's queues and advisers. */
interface Board {
  queues: { queue_id: string; name: string; waiting: number; ringing: number; longest_wait_seconds: number | null }[];
  advisers: { user_id: string; display_name: string; presence: string; activity: string; idle_seconds: number | null }[];
  longest_wait_seconds: number | null;
}

// How often the board asks again while it is on screen.
const REFRESH_MS = 3_000;

const STATE = (): Record<string, string> => ({
  busy: t("call.inCall"),
  ringing: t("outcome.ringing"),
  idle: t("wallboard.free"),
});

/**
 * The supervisor's wallboard: visitors waiting per queue, the longest wait, and each adviser's
 * state. It asks the server every few seconds while the section is shown and stops once it is not.
 */
export function wallboardSection(ctx: Context): HTMLElement {
  const message = new Message();
  const board = h("div", { "aria-live": "off" });
  const stamp = h("p", { class: "help" });
  let failed = false;
  const refresh = async (): Promise<void> => {
    try {
      const data = await ctx.api.get<Board>("/wallboard");
      if (failed) message.clear();
      failed = false;
      replace(board, render(data));
      stamp.textContent = t("wallboard.updated", { time: formatDateTime(new Date(), { timeStyle: "medium" }), seconds: REFRESH_MS / 1000 });
    } catch (error) {
      failed = true;
      message.error(error);
    }
  };
  const element = section(t("nav.wallboard"), t("wallboard.whoIsWaitingNow"), message.el, board, stamp);
  const tick = (): void => {
    // Another section replaced this one: stop asking.
    if (!element.isConnected) return;
    void refresh().finally(() => setTimeout(tick, REFRESH_MS));
  };
  // Built before it is attached: start once it is in the page.
  setTimeout(tick, 0);
  return element;
}

function render(data: Board): HTMLElement {
  const waiting = data.queues.reduce((sum, queue) => sum + queue.waiting + queue.ringing, 0);
  const present = data.advisers.filter((adviser) => adviser.presence !== "offline");
  const free = present.filter((adviser) => adviser.presence === "available" && adviser.activity === "idle").length;
  const queueRows = data.queues.map((queue) => {
    const tr = row(queue.name, String(queue.waiting), String(queue.ringing), seconds(queue.longest_wait_seconds));
    tr.dataset["queue"] = queue.queue_id;
    return tr;
  });
  const adviserRows = data.advisers.map((adviser) => {
    const tr = row(adviser.display_name || "—", presenceLabel(adviser.presence), adviser.presence === "offline" ? "—" : (STATE()[adviser.activity] ?? adviser.activity), seconds(adviser.idle_seconds));
    tr.dataset["adviser"] = adviser.user_id;
    return tr;
  });
  return h(
    "div",
    {},
    h("div", { class: "tiles" }, tile(t("desk.waiting"), String(waiting)), tile(t("statistics.longestWait"), seconds(data.longest_wait_seconds)), tile(t("wallboard.advisersFree"), t("wallboard.freeOf", { free, present: present.length }))),
    table(t("nav.queues"), [t("desk.queue"), t("desk.waiting"), t("outcome.ringing"), t("statistics.longestWait")], queueRows, t("wallboard.noQueues")),
    table(t("wallboard.advisers"), [t("calls.adviser"), t("wallboard.presence"), t("wallboard.activity"), t("wallboard.freeFor")], adviserRows, t("wallboard.noAdviserIsConnected")),
  );
}

function presenceLabel(presence: string): string {
  return presence === "available" ? t("desk.available") : presence === "away" ? t("desk.away") : t("wallboard.offlineReconnecting");
}

function tile(label: string, value: string): HTMLElement {
  return h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), h("strong", {}, value));
}
