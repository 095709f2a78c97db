import { h } from "../shared/dom";
import type { AdviserSocket } from "./call";
import { t } from "../staff/texts";

/**
 * "Share screen": a screen or window (``getDisplayMedia``, W3C Screen Capture) is sent in place of
 * the camera with ``replaceTrack`` (no renegotiation, W3C WebRTC §5.2), so it is simply the
 * adviser's video: what the visitor receives, and what a recording of the call records as the
 * adviser's video. ``share:start`` tells the visitor to show it large; "Stop sharing", or the
 * browser's own stop, puts the camera back (``share:stop``).
 */
export class ScreenShare {
  readonly button: HTMLButtonElement;
  private display: MediaStreamTrack | null = null;

  constructor(
    private readonly socket: AdviserSocket,
    private readonly local: MediaStream | null,
    private readonly selfView: HTMLVideoElement,
    private readonly replace: (track: MediaStreamTrack) => Promise<void>,
    private readonly say: (text: string) => void,
  ) {
    this.button = h("button", { type: "button", class: "btn", "aria-pressed": "false", "data-part": "share" }, t("share.start"));
    this.button.addEventListener("click", () => void (this.display ? this.stop() : this.start()));
  }

  get active(): boolean {
    return this.display !== null;
  }

  async start(): Promise<void> {
    const camera = this.local?.getVideoTracks()[0];
    if (!camera) {
      this.say(t("share.noCamera"));
      return;
    }
    let track: MediaStreamTrack | undefined;
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      track = stream.getVideoTracks()[0];
    } catch {
      track = undefined; // the adviser cancelled the picker, or it is not allowed
    }
    if (!track) {
      this.say(t("share.failed"));
      return;
    }
    this.display = track;
    track.addEventListener("ended", () => void this.stop());
    await this.replace(track);
    this.selfView.srcObject = new MediaStream([track]);
    this.selfView.classList.add("screen");
    this.button.textContent = t("share.stop");
    this.button.setAttribute("aria-pressed", "true");
    this.say(t("share.sharing"));
    await this.socket.request("share:start");
  }

  async stop(): Promise<void> {
    const display = this.display;
    if (!display) return;
    this.display = null;
    const camera = this.local?.getVideoTracks()[0];
    if (camera) await this.replace(camera);
    display.stop();
    this.selfView.srcObject = this.local;
    this.selfView.classList.remove("screen");
    this.button.textContent = t("share.start");
    this.button.setAttribute("aria-pressed", "false");
    await this.socket.request("share:stop");
  }

  /** The call ended or was passed on: let the capture go (no request: the call is gone). */
  dispose(): void {
    this.display?.stop();
    this.display = null;
  }
}
