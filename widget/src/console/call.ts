import { ChatPanel } from "../shared/chat";
import { h, icon, videoElement } from "../shared/dom";
import { CallMedia, type MediaState } from "../shared/rtc";
import type { SequencedSocket } from "../shared/socket";
import { trackToggle } from "../shared/toggle";
import type { AdviserEvents, AdviserResumed, Answer, AttachmentEvent, CandidatePayload, ChatMessage } from "../shared/wire";
import { still } from "./attachments";
import { ScreenShare } from "./share";
import { TransferControl } from "./transfer";
import type { QueueRecord } from "./types";
import { errorText, t } from "../staff/texts";

/** The adviser's session on ``/adviser``. */
export type AdviserSocket = SequencedSocket<AdviserEvents, AdviserResumed>;

/** Photos of the call: store a snapshot, fetch an image (both with the staff token). */
export interface CallPhotos {
  snapshot(image: Blob): Promise<string | null>;
  load(id: string): Promise<Blob | null>;
}

export interface CallInfo {
  callId: string;
  reference: string;
  queueName: string;
  language: string | null;
  /** The host page's context (e.g. the car the visitor was looking at). */
  context?: Record<string, string>;
}

/** ``vehicle: VW Golf 2019 · quote: Q-2291``: the page context as one line (empty when none). */
export function contextLine(context: Record<string, string> | undefined): string {
  return Object.entries(context ?? {})
    .map(([key, value]) => `${key}: ${value}`)
    .join(" · ");
}

const MEDIA_TEXT = (): Record<MediaState, string> => ({
  connecting: t("call.media.connecting"),
  connected: "",
  reconnecting: t("call.media.reconnecting"),
  failed: t("call.media.failed"),
});

const RECORDING_ERRORS = (): Record<string, string> => ({
  no_consent: t("recording.no_consent"),
  recording_not_allowed: t("recording.recording_not_allowed"),
  already_recording: t("recording.already_recording"),
  not_recording: t("recording.not_recording"),
  media_unavailable: t("recording.media_unavailable"),
});

/**
 * A call in the console: the visitor's video and the self view, an always-visible recording
 * indicator, mute / camera / record / end, and the chat. Media goes exactly as in the widget:
 * the browser offers to the server with ``rtc:offer`` (shared/rtc.ts).
 */
export class CallView {
  readonly el: HTMLElement;
  readonly chat: ChatPanel;
  private readonly media: CallMedia;
  private readonly remote: HTMLVideoElement;
  private readonly state: HTMLParagraphElement;
  private readonly indicator: HTMLElement;
  private readonly record: HTMLButtonElement;
  private readonly problem: HTMLParagraphElement;
  private readonly play: HTMLButtonElement;
  private recording = false;
  private readonly share: ScreenShare;
  private readonly transfer: TransferControl;

  constructor(
    readonly info: CallInfo,
    private readonly local: MediaStream | null,
    iceServers: RTCIceServer[],
    private readonly socket: AdviserSocket,
    onEnd: () => void,
    private readonly photos: CallPhotos,
    queues: () => QueueRecord[] = () => [],
  ) {
    this.remote = videoElement("remote", t("call.remoteVideo"), false);
    this.remote.setAttribute("data-part", "remote-video");
    const self = videoElement("self", t("call.selfVideo"), true);
    self.setAttribute("data-part", "self-video");
    self.srcObject = local;
    this.state = h("p", { class: "media-state", role: "status" }, MEDIA_TEXT().connecting);
    this.play = h(
      "button",
      { type: "button", class: "btn primary play", hidden: true, onclick: () => this.startPlayback() },
      t("call.clickToStart"),
    );
    this.indicator = h(
      "div",
      { class: "rec-indicator", role: "status", "data-part": "recording", "data-active": "false" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("span", { class: "rec-text" }, t("call.notRecording")),
    );
    this.record = h("button", { type: "button", class: "btn", "aria-pressed": "false", "data-part": "record" }, t("call.startRecording"));
    this.record.addEventListener("click", () => void this.toggleRecording());
    this.problem = h("p", { class: "problem", role: "alert", hidden: true });
    this.chat = new ChatPanel(
      {
        chatTitle: t("chat.title"),
        chatLabel: t("chat.label"),
        chatSend: t("chat.send"),
        chatYou: t("chat.you"),
        chatThem: t("chat.visitor"),
        chatFailed: t("chat.failed"),
      },
      "adviser",
      async (text) => {
        const ack = await this.socket.request("chat:send", { text });
        return ack.ok ? null : ack.error.code;
      },
    );
    const audio = local?.getAudioTracks() ?? [];
    const video = local?.getVideoTracks() ?? [];
    const snapshot = h("button", { type: "button", class: "btn", "data-part": "snapshot" }, icon("photo"), t("call.takeSnapshot"));
    snapshot.addEventListener("click", () => void this.takeSnapshot(snapshot));
    const end = h("button", { type: "button", class: "btn danger", "data-part": "end" }, icon("hangUp"), t("call.end"));
    end.addEventListener("click", () => {
      end.disabled = true;
      onEnd();
    });
    this.transfer = new TransferControl(this.socket, queues);
    this.share = new ScreenShare(this.socket, local, self, (track) => this.media.replaceTrack(track), (text) => {
      this.problem.textContent = text;
      this.problem.hidden = false;
    });
    const details = [info.queueName, info.language?.toUpperCase(), t("call.reference", { reference: info.reference })].filter(Boolean);
    this.el = h(
      "section",
      { class: "call", "aria-labelledby": "call-title", "data-part": "call" },
      h(
        "div",
        { class: "call-bar" },
        h(
          "div",
          {},
          h("h2", { id: "call-title", tabindex: "-1" }, t("call.inCall")),
          h("p", { class: "muted" }, details.join(" · ")),
          contextLine(info.context) ? h("p", { class: "context", "data-part": "context" }, t("call.fromPage", { context: contextLine(info.context) })) : null,
        ),
        this.indicator,
      ),
      h(
        "div",
        { class: "call-grid" },
        h("div", { class: "stage" }, this.remote, self, this.state, this.play),
        this.chat.el,
      ),
      h(
        "div",
        { class: "controls", role: "group", "aria-label": t("call.controls") },
        trackToggle({ tracks: () => audio, on: "mic", off: "micOff", label: t("call.mute"), className: "btn round" }),
        trackToggle({ tracks: () => video, on: "camera", off: "cameraOff", label: t("call.cameraOff"), className: "btn round" }),
        this.record,
        snapshot,
        this.share.button,
        this.transfer.button,
        end,
      ),
      this.transfer.el,
      this.transfer.statusLine,
      this.problem,
    );

    this.media = new CallMedia(
      iceServers,
      local,
      {
        offer: (sdp) => this.socket.request<Answer>("rtc:offer", { sdp, type: "offer" }),
        candidate: (candidate) => this.socket.send("rtc:candidate", candidate),
        online: () => this.socket.connected,
      },
      (state) => {
        this.state.textContent = MEDIA_TEXT()[state];
        this.state.hidden = MEDIA_TEXT()[state] === "";
      },
      (stream) => {
        if (this.remote.srcObject !== stream) this.remote.srcObject = stream;
        this.startPlayback();
      },
    );
  }

  start(): void {
    void this.media.start();
    (this.el.querySelector("#call-title") as HTMLElement | null)?.focus();
  }

  addMessage(message: ChatMessage): void {
    this.chat.add(message);
  }

  /** A photo of the visitor or a snapshot of ours, in the chat thread. */
  addAttachment(event: AttachmentEvent): void {
    const caption = event.kind === "snapshot" ? t("call.snapshotCaption") : t("call.photoCaption");
    this.chat.addImage(event, caption, () => this.photos.load(event.id));
  }

  addCandidate(candidate: CandidatePayload): void {
    this.media.addRemoteCandidate(candidate);
  }

  reconnected(): void {
    this.media.recoverIfBroken();
  }

  /** ``media:renegotiate``: the call's media moved; offer afresh from a new connection. */
  renegotiate(): void {
    this.media.renegotiate();
  }

  setRecording(active: boolean): void {
    this.recording = active;
    this.indicator.dataset["active"] = String(active);
    (this.indicator.querySelector(".rec-text") as HTMLElement).textContent = active ? t("call.recording") : t("call.notRecording");
    this.record.textContent = active ? t("call.stopRecording") : t("call.startRecording");
    this.record.setAttribute("aria-pressed", String(active));
  }

  /** ``call:transfer_failed``: the colleague refused or did not answer; the call goes on here. */
  transferFailed(reason: string): void {
    this.transfer.failed(reason);
  }

  close(): void {
    this.share.dispose();
    this.media.close();
    this.remote.srcObject = null;
    for (const track of this.local?.getTracks() ?? []) track.stop();
  }

  private async toggleRecording(): Promise<void> {
    this.record.disabled = true;
    const start = !this.recording;
    const ack = await this.socket.request(start ? "recording:start" : "recording:stop");
    this.record.disabled = false;
    if (ack.ok) {
      this.problem.hidden = true;
      // recording:state may arrive before or after this ack; both say the same.
      this.setRecording(start);
    } else {
      this.problem.textContent = ack.error.code in RECORDING_ERRORS() ? (RECORDING_ERRORS()[ack.error.code] as string) : errorText(ack.error.code, ack.error.message);
      this.problem.hidden = false;
    }
  }

  private async takeSnapshot(button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    const image = await still(this.remote);
    const error = image ? await this.photos.snapshot(image) : "no_video";
    button.disabled = false;
    this.problem.textContent = error === null ? "" : error === "no_video" ? t("call.noVideo") : t("call.snapshotFailed", { why: errorText(error) });
    this.problem.hidden = error === null;
  }

  private startPlayback(): void {
    this.remote.play().then(
      () => {
        this.play.hidden = true;
      },
      () => {
        this.play.hidden = false;
      },
    );
  }
}

