import { openLocalMedia } from "../shared/devices";
import { h } from "../shared/dom";
import { SequencedSocket } from "../shared/socket";
import type { Ack, AdviserEvents, AdviserResumed, EndedEvent, Incoming, Snapshot, Waiting } from "../shared/wire";
import { type Me, type StaffSession, staffSocket } from "../staff";
import { loadCallImage, sendSnapshot } from "./attachments";
import { type AdviserSocket, type CallInfo, CallView, contextLine } from "./call";
import { duration } from "./format";
import { HistoryView } from "./history";
import { RingTone } from "./ring";
import type { QueueRecord } from "./types";
import { errorText, type StaffKey, t } from "../staff/texts";
import { languageMenu } from "../staff/language";

/** Why a call ended, as "end.<reason>" keys of the catalogue. */
const END_REASONS = new Set(["adviser_ended", "visitor_ended", "visitor_disconnected", "adviser_disconnected", "media_unavailable"]);

/**
 * The adviser's desk after login: availability, the waiting queue (no visitor data: wait
 * times and languages only), the ring with accept/decline, the call, and the history.
 */
export class Desk {
  readonly el: HTMLElement;
  private readonly socket: AdviserSocket;
  private readonly ring = new RingTone();
  private readonly history: HistoryView;
  private readonly presence: HTMLButtonElement;
  private readonly connection: HTMLElement;
  private readonly queueList: HTMLUListElement;
  private readonly queueEmpty: HTMLParagraphElement;
  private readonly ringPanel: HTMLElement;
  private readonly ringText: HTMLParagraphElement;
  private readonly notice: HTMLParagraphElement;
  private readonly stage: HTMLElement;
  private readonly idle: HTMLElement;
  private readonly idleText: HTMLParagraphElement;
  private readonly ticker: ReturnType<typeof setInterval>;
  private queues = new Map<string, QueueRecord>();
  private iceServers: RTCIceServer[] = [];
  private waiting: { item: Waiting; at: number }[] = [];
  private incoming: Incoming | null = null;
  private incomingAt = 0;
  private call: CallView | null = null;
  private available = false;
  private loading: Promise<void> = Promise.resolve();
  /** The active call being drawn again after a reload (while the camera opens). */
  private restoring: string | null = null;
  /** The call this tab is accepting (its ``call:accepted`` is ours, not another tab's). */
  private accepting: string | null = null;

  constructor(
    private readonly session: StaffSession,
    me: Me,
    onLogout: () => void,
  ) {
    this.presence = h("button", { type: "button", class: "switch", role: "switch", "aria-checked": "false", "data-part": "presence" });
    this.presence.append(h("span", { class: "knob", "aria-hidden": "true" }), h("span", { class: "switch-text" }, t("desk.away")));
    this.presence.addEventListener("click", () => void this.setAvailable(!this.available));
    this.connection = h("span", { class: "conn", role: "status" }, t("desk.connecting"));
    const logout = h("button", { type: "button", class: "btn small ghost", "data-part": "logout" }, t("app.logout"));
    logout.addEventListener("click", onLogout);

    this.queueList = h("ul", { class: "queue-list", "aria-labelledby": "queue-title", "data-part": "queue" });
    this.queueEmpty = h("p", { class: "muted" }, t("desk.nobodyWaiting"));
    this.ringText = h("p", { id: "ring-text" });
    const accept = h("button", { type: "button", class: "btn primary", "data-part": "accept" }, t("desk.accept"));
    accept.addEventListener("click", () => void this.accept());
    const decline = h("button", { type: "button", class: "btn", "data-part": "decline" }, t("desk.decline"));
    decline.addEventListener("click", () => void this.decline());
    this.ringPanel = h(
      "section",
      { class: "card ring", role: "alertdialog", "aria-labelledby": "ring-title", "aria-describedby": "ring-text", hidden: true, "data-part": "ring" },
      h("h2", { id: "ring-title" }, t("desk.incoming")),
      this.ringText,
      h("div", { class: "row" }, accept, decline),
    );
    this.notice = h("p", { class: "notice", role: "status", hidden: true, "data-part": "notice" });
    this.idleText = h("p", { class: "muted" }, t("desk.idleAway"));
    this.idle = h("div", { class: "card idle" }, h("h2", {}, t("desk.noCall")), this.idleText);
    this.stage = h("div", { class: "stage-area" }, this.ringPanel, this.idle);
    this.history = new HistoryView(session, (id) => this.queues.get(id)?.name ?? "–");

    this.el = h(
      "div",
      { class: "desk" },
      h(
        "header",
        { class: "topbar" },
        h("strong", { class: "brand" }, "Loket"),
        h("span", { class: "me" }, me.display_name || me.email),
        this.connection,
        h("div", { class: "spacer" }),
        h("label", { class: "presence" }, h("span", { class: "sr" }, t("desk.availableForCalls")), this.presence),
        languageMenu(session, me, (text) => this.say(text)),
        logout,
      ),
      this.notice,
      h(
        "main",
        { class: "columns" },
        h(
          "aside",
          { class: "card queue", "aria-labelledby": "queue-title" },
          h("h2", { id: "queue-title" }, t("desk.waiting")),
          this.queueList,
          this.queueEmpty,
        ),
        h("div", { class: "main-col" }, this.stage, this.history.el),
      ),
    );
    this.ticker = setInterval(() => this.renderQueue(), 1000);

    this.socket = new SequencedSocket<AdviserEvents, AdviserResumed>(
      staffSocket(session),
      {
        "queue:snapshot": (data) => this.snapshot(data),
        "call:incoming": (data) => this.ringing(data),
        "call:accepted": (data) => this.acceptedElsewhere(data.call_id),
        "call:withdrawn": (data) => this.withdrawn(data.call_id, data.reason),
        "call:ended": (data) => this.ended(data),
        "call:transferred": (data) => this.transferred(data.call_id, data.queue_id),
        "call:transfer_failed": (data) => {
          if (this.call?.info.callId === data.call_id) this.call.transferFailed(data.reason);
        },
        "media:renegotiate": () => this.call?.renegotiate(),
        "presence:state": (data) => {
          this.showPresence(data.status === "available");
          if (data.reason === "missed_call") this.say(t("desk.missedCall"));
        },
        "recording:state": (data) => this.call?.setRecording(data.active),
        "chat:message": (data) => this.call?.addMessage(data),
        "attachment:added": (data) => {
          if (this.call?.info.callId === data.call_id) this.call.addAttachment(data);
        },
        "rtc:candidate": (data) => this.call?.addCandidate(data),
      },
      {
        resumed: (state, first) => this.resumed(state, first),
        dropped: () => this.setConnection(t("desk.reconnecting"), false),
        refused: (code) => {
          this.setConnection(t("desk.disconnected"), false);
          this.say(code === "forbidden" ? t("desk.roleNoCalls") : t("desk.refused"));
        },
      },
    );
  }

  /** Load the queue names, the ICE servers and the history (the socket is already connecting). */
  start(): Promise<void> {
    this.loading = this.load();
    return this.loading;
  }

  private async load(): Promise<void> {
    const [queues, ice] = await Promise.allSettled([
      this.session.fetch<QueueRecord[]>("/api/v1/queues"),
      this.session.fetch<{ ice_servers: RTCIceServer[] }>("/api/v1/rtc/ice-servers"),
    ]);
    if (queues.status === "fulfilled") this.queues = new Map(queues.value.map((q) => [q.id, q]));
    if (ice.status === "fulfilled") this.iceServers = ice.value.ice_servers;
    await this.history.load();
  }

  dispose(): void {
    clearInterval(this.ticker);
    this.ring.stop();
    this.call?.close();
    this.socket.close();
  }

  private resumed(state: Ack<AdviserResumed>, first: boolean): void {
    if (!state.ok) {
      this.setConnection(t("desk.connectionProblem"), false);
      return;
    }
    this.setConnection(t("desk.online"), true);
    if (state.snapshot) this.snapshot(state.snapshot);
    const call = state.call;
    if (!first) {
      if (this.call && call?.call_id === this.call.info.callId) this.call.reconnected();
      return;
    }
    // A fresh page (a reload): draw what the server says is going on.
    if (call?.status === "ringing") {
      const entry = state.snapshot?.waiting.find((item) => item.call_id === call.call_id);
      this.ringing({
        call_id: call.call_id,
        queue_id: entry?.queue_id ?? "",
        language: entry?.language ?? null,
        waited_seconds: entry?.waited_seconds ?? 0,
      });
    } else if (call?.status === "active" && !this.call) {
      this.restoring = call.call_id;
      void Promise.all([openLocalMedia(), this.loading]).then(([local]) => {
        if (this.restoring !== call.call_id || this.call) {
          for (const track of local.stream?.getTracks() ?? []) track.stop();
          return; // it ended meanwhile
        }
        this.restoring = null;
        const view = this.openCall({ callId: call.call_id, reference: call.reference, queueName: "", language: null }, local.stream);
        view.setRecording(call.recording === true);
      });
    }
  }

  private async setAvailable(available: boolean): Promise<void> {
    this.ring.unlock(); // a click: the moment the browser lets us make sound later
    const ack = await this.socket.request<{ status: string }>("presence:set", { status: available ? "available" : "away" });
    if (ack.ok) this.showPresence(ack.status === "available");
    else this.say(t("desk.presenceFailed", { why: errorText(ack.error.code, ack.error.message) }));
  }

  private showPresence(available: boolean): void {
    this.available = available;
    this.presence.setAttribute("aria-checked", String(available));
    (this.presence.querySelector(".switch-text") as HTMLElement).textContent = available ? t("desk.available") : t("desk.away");
    this.idleText.textContent = available ? t("desk.idleAvailable") : t("desk.idleAway");
  }

  private snapshot(data: Snapshot): void {
    const now = Date.now();
    this.waiting = data.waiting.map((item) => ({ item, at: now }));
    this.showPresence(data.presence === "available");
    this.renderQueue();
  }

  private renderQueue(): void {
    const now = Date.now();
    this.queueList.replaceChildren(
      ...this.waiting.map(({ item, at }) => {
        const waited = item.waited_seconds + (now - at) / 1000;
        const queue = this.queues.get(item.queue_id)?.name ?? t("desk.queue");
        return h(
          "li",
          { class: `waiting ${item.status}` },
          h("span", { class: "wait" }, duration(waited)),
          h("span", {}, queue),
          h("span", { class: "lang" }, item.language ? item.language.toUpperCase() : t("desk.anyLanguage")),
          item.status === "ringing" ? h("span", { class: "tag" }, t("desk.ringing")) : null,
        );
      }),
    );
    this.queueEmpty.hidden = this.waiting.length > 0;
    if (this.incoming) this.renderRing();
  }

  private ringing(data: Incoming): void {
    this.incoming = { ...data };
    this.incomingAt = Date.now();
    this.renderRing();
    this.ringPanel.hidden = false;
    this.idle.hidden = true;
    this.ring.start();
    document.title = t("desk.titleRinging");
    (this.ringPanel.querySelector("[data-part=accept]") as HTMLButtonElement).focus();
  }

  private renderRing(): void {
    const data = this.incoming;
    if (!data) return;
    const elapsed = (Date.now() - this.incomingAt) / 1000;
    const queue = this.queues.get(data.queue_id)?.name ?? t("desk.aQueue");
    const language = data.language ? `, ${data.language.toUpperCase()}` : "";
    const left = data.ring_seconds === undefined ? "" : ` ${t("desk.ringsMore", { seconds: Math.max(0, Math.ceil(data.ring_seconds - elapsed)) })}`;
    const context = contextLine(data.context);
    const transfer = data.transfer ? ` ${data.transfer.note ? t("desk.transferredWithNote", { note: data.transfer.note }) : t("desk.transferred")}` : "";
    this.ringText.textContent = `${t("desk.visitorWaited", { queue: `${queue}${language}`, duration: duration(data.waited_seconds + elapsed) })}${left}${context ? ` ${t("desk.fromPage", { context })}` : ""}${transfer}`;
  }

  private stopRinging(): void {
    this.incoming = null;
    this.ring.stop();
    this.ringPanel.hidden = true;
    document.title = t("desk.title");
  }

  private withdrawn(callId: string, reason: string): void {
    if (this.incoming?.call_id !== callId) return;
    this.stopRinging();
    this.idle.hidden = this.call !== null;
    if (reason !== "declined") this.say(reason === "ring_timeout" ? t("desk.notAnswered") : t("desk.visitorLeft"));
  }

  /** ``call:accepted`` goes to every tab of this adviser; our own accept's ack opened the call here. */
  private acceptedElsewhere(callId: string): void {
    if (this.incoming?.call_id !== callId || this.accepting === callId) return;
    this.stopRinging();
    this.idle.hidden = this.call !== null;
    this.say(t("desk.otherWindow"));
  }

  private async decline(): Promise<void> {
    const call = this.incoming;
    if (!call) return;
    this.stopRinging();
    this.idle.hidden = false;
    await this.socket.request("call:decline", { call_id: call.call_id });
  }

  private async accept(): Promise<void> {
    const call = this.incoming;
    if (!call) return;
    this.ring.stop();
    this.accepting = call.call_id;
    const buttons = [...this.ringPanel.querySelectorAll("button")];
    for (const button of buttons) button.disabled = true;
    // The camera is asked for before the call is taken, so the visitor never waits on a prompt.
    const local = await openLocalMedia();
    const ack = await this.socket.request<{ call_id: string; reference: string }>("call:accept", { call_id: call.call_id });
    for (const button of buttons) button.disabled = false;
    if (!ack.ok && ack.error.code === "media_unavailable") {
      // Nothing changed: the call still rings for us and the visitor keeps waiting; let the
      // adviser try again while the ring lasts.
      for (const track of local.stream?.getTracks() ?? []) track.stop();
      this.accepting = null;
      this.say(t("desk.noMedia"));
      return;
    }
    this.stopRinging();
    if (!ack.ok) {
      for (const track of local.stream?.getTracks() ?? []) track.stop();
      this.idle.hidden = false;
      this.say(t("desk.acceptFailed", { why: errorText(ack.error.code, ack.error.message) }));
      return;
    }
    if (local.problem) this.say(t("desk.noDevices", { problem: local.problem }));
    else this.notice.hidden = true;
    this.openCall(
      {
        callId: ack.call_id,
        reference: ack.reference,
        queueName: this.queues.get(call.queue_id)?.name ?? "",
        language: call.language,
        ...(call.context ? { context: call.context } : {}),
      },
      local.stream,
    );
  }

  private openCall(info: CallInfo, local: MediaStream | null): CallView {
    const call = new CallView(
      info,
      local,
      this.iceServers,
      this.socket,
      () => void this.end(),
      {
        snapshot: (image) => sendSnapshot(this.session, info.callId, image),
        load: (id) => loadCallImage(this.session, info.callId, id),
      },
      () => [...this.queues.values()],
    );
    this.call = call;
    this.idle.hidden = true;
    this.stage.append(call.el);
    call.start();
    return call;
  }

  private async end(): Promise<void> {
    const ack = await this.socket.request("call:end");
    if (!ack.ok && this.call) this.say(t("desk.endFailed", { why: errorText(ack.error.code, ack.error.message) }));
  }

  private ended(data: EndedEvent): void {
    if (this.restoring === data.call_id) this.restoring = null;
    if (!this.call || this.call.info.callId !== data.call_id) return;
    this.call.close();
    this.call.el.remove();
    this.call = null;
    this.idle.hidden = false;
    const why = END_REASONS.has(data.reason) ? t(`end.${data.reason}` as StaffKey) : t("end.other");
    this.say(`${why} ${t("end.reference", { reference: data.reference })}`);
    void this.history.load();
  }

  /** ``call:transferred``: the call went to a queue, or a colleague accepted it; it leaves this desk. */
  private transferred(callId: string, queueId: string | undefined): void {
    if (!this.call || this.call.info.callId !== callId) return;
    this.call.close();
    this.call.el.remove();
    this.call = null;
    this.idle.hidden = false;
    const queue = queueId ? (this.queues.get(queueId)?.name ?? "") : "";
    this.say(queueId ? t("transfer.passedToQueue", { queue }) : t("transfer.passedToColleague"));
    void this.history.load();
  }

  private setConnection(text: string, online: boolean): void {
    this.connection.textContent = text;
    this.connection.classList.toggle("offline", !online);
  }

  private say(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }
}
