import { ChatPanel, type ChatSender } from "../../shared/chat";
import { h, icon, videoElement } from "../../shared/dom";
import type { MediaState } from "../../shared/rtc";
import { trackToggle } from "../../shared/toggle";
import type { AttachmentEvent, ChatMessage } from "../../shared/wire";
import type { Catalogue } from "../i18n";
import type { View } from "./panel";

export interface CallHandlers {
  end(): void;
  stopRecording(): void;
  chat: ChatSender;
  /** Send a photo; resolves to an error code, or ``null`` when the server took it. */
  photo(file: File): Promise<string | null>;
  /** Turn to the next camera (front/rear); offered only when there is more than one. */
  switchCamera(): void;
}

// Refusals that mean "this file", not "try again" (api/routes/attachments.py).
const FILE_REFUSALS = new Set(["unsupported_type", "type_mismatch", "too_large", "too_many_pixels", "unreadable_image", "empty_file", "image_limits"]);

/** In the call: the adviser's video, the self view, mute, camera off, end, the recording indicator and the chat. */
export class CallView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  private readonly remote: HTMLVideoElement;
  private readonly state: HTMLDivElement;
  private readonly play: HTMLButtonElement;
  private readonly recording: HTMLDivElement;
  private readonly chat: ChatPanel;
  private readonly switcher: HTMLButtonElement;
  private readonly photoButton: HTMLButtonElement;
  private readonly photoState: HTMLParagraphElement;
  private readonly stage: HTMLDivElement;
  private mediaState: MediaState = "connecting";
  private online = true;
  private transferring = false;

  constructor(
    private readonly t: Catalogue,
    adviserName: string,
    local: MediaStream | null,
    handlers: CallHandlers,
  ) {
    const name = adviserName || t.adviser;
    this.remote = videoElement("remote", t.remoteVideo, false);
    this.remote.setAttribute("data-part", "remote-video");
    const self = videoElement("self", t.selfView, true);
    self.setAttribute("data-part", "self-video");
    self.srcObject = local;
    self.hidden = !local?.getVideoTracks().length;
    this.state = h("div", { class: "state" }, t.connecting);
    this.play = h("button", { type: "button", class: "btn primary play", hidden: true, onclick: () => this.startPlayback() }, t.playBlocked);
    this.recording = h(
      "div",
      { class: "rec", role: "status", "data-part": "recording", hidden: true },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("span", {}, t.recording),
      h("button", { type: "button", onclick: () => handlers.stopRecording() }, t.stopRecording),
    );
    this.focus = h("p", { class: "who", tabindex: "-1" }, t.callWith(name));

    // Read when clicked: a camera switch puts a new video track in the stream.
    const mute = trackToggle({ tracks: () => local?.getAudioTracks() ?? [], on: "mic", off: "micOff", label: t.mute, pressedTitle: t.unmute, className: "round" });
    const camera = trackToggle({ tracks: () => local?.getVideoTracks() ?? [], on: "camera", off: "cameraOff", label: t.cameraOff, pressedTitle: t.cameraOn, className: "round" });
    const end = h("button", { type: "button", class: "round end", "aria-label": t.end, onclick: () => handlers.end() }, icon("hangUp"));
    this.switcher = h(
      "button",
      { type: "button", class: "round", "aria-label": t.cameraSwitch, title: t.cameraSwitch, hidden: true, "data-part": "camera-switch", onclick: () => handlers.switchCamera() },
      icon("flip"),
    );
    // On phones ``capture=environment`` opens the rear camera; on desktops it is a file picker.
    const picker = h("input", { type: "file", accept: "image/*", capture: "environment", hidden: true, "data-part": "photo-input" });
    picker.addEventListener("change", () => {
      const file = picker.files?.[0];
      picker.value = "";
      if (file) void this.sendPhoto(file, handlers);
    });
    this.photoButton = h(
      "button",
      { type: "button", class: "round", "aria-label": t.photoSend, title: t.photoSend, "data-part": "photo", onclick: () => picker.click() },
      icon("photo"),
    );
    this.photoState = h("p", { class: "chat-problem", role: "status", hidden: true, "data-part": "photo-state" });

    this.el = h(
      "div",
      {},
      (this.stage = h("div", { class: "stage" }, this.remote, self, this.state, this.play, this.recording)),
      this.focus,
      h("div", { class: "controls" }, mute, camera, this.switcher, this.photoButton, end),
      picker,
      this.photoState,
      (this.chat = new ChatPanel(t, "visitor", handlers.chat)).el,
    );
  }

  addMessage(message: ChatMessage): void {
    this.chat.add(message);
  }

  /** A photo of either party in the chat thread; an adviser's snapshot says it was taken. */
  addAttachment(event: AttachmentEvent, load: () => Promise<Blob | null>): void {
    const caption = event.kind === "snapshot" ? this.t.snapshotTaken : this.t.photoSent;
    this.chat.addImage(event, caption, load);
  }

  /** Offer front/rear when the device has more than one camera. */
  showCameraSwitch(visible: boolean): void {
    this.switcher.hidden = !visible;
  }

  private async sendPhoto(file: File, handlers: CallHandlers): Promise<void> {
    this.photoButton.disabled = true;
    this.photoState.textContent = this.t.photoSending;
    this.photoState.hidden = false;
    const error = await handlers.photo(file);
    this.photoButton.disabled = false;
    this.photoState.textContent = error === null ? "" : FILE_REFUSALS.has(error) ? this.t.photoRefused : this.t.photoFailed;
    this.photoState.hidden = error === null;
  }

  setRemote(stream: MediaStream): void {
    if (this.remote.srcObject !== stream) this.remote.srcObject = stream;
    this.startPlayback();
  }

  setMediaState(state: MediaState): void {
    this.mediaState = state;
    this.render();
  }

  setOnline(online: boolean): void {
    this.online = online;
    this.render();
  }

  setRecording(active: boolean): void {
    this.recording.hidden = !active;
  }

  /** The call is being passed on (``call:transferred``) or, with a name, taken by the next adviser. */
  setTransferring(active: boolean, adviserName?: string): void {
    this.transferring = active;
    if (adviserName !== undefined) this.focus.textContent = this.t.callWith(adviserName || this.t.adviser);
    this.stage.setAttribute("data-transferring", String(active));
    this.render();
  }

  /** The adviser's video is a shared screen: shown large and whole, not cropped. */
  setSharing(active: boolean): void {
    this.stage.classList.toggle("sharing", active);
    this.remote.setAttribute("aria-label", active ? this.t.screenShared : this.t.remoteVideo);
  }

  dispose(): void {
    this.remote.srcObject = null;
  }

  private render(): void {
    const text = !this.online
      ? this.t.reconnecting
      : this.transferring
        ? this.t.transferring
        : this.mediaState === "connecting"
        ? this.t.connecting
        : this.mediaState === "connected"
          ? ""
          : this.t.reconnecting;
    this.state.hidden = text === "";
    this.state.textContent = text;
  }

  private startPlayback(): void {
    // Autoplay with sound needs a user gesture on the page; the visitor clicked to join, so
    // it is normally allowed, but a browser may still refuse: then offer a button.
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
