import { ChatPanel, type ChatSender } from "../../shared/chat";
import { h, icon, videoElement } from "../../shared/dom";
import type { MediaState } from "../../shared/rtc";
import type { ChatMessage } from "../../shared/wire";
import type { Catalogue } from "../i18n";
import type { View } from "./panel";

export interface CallHandlers {
  end(): void;
  stopRecording(): void;
  chat: ChatSender;
}

/** In the call: the adviser's video, the self view, mute, camera off, end, the recording indicator and the chat. */
export class CallView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  private readonly remote: HTMLVideoElement;
  private readonly state: HTMLDivElement;
  private readonly play: HTMLButtonElement;
  private readonly recording: HTMLDivElement;
  private readonly chat: ChatPanel;
  private mediaState: MediaState = "connecting";
  private online = true;

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

    const audio = local?.getAudioTracks() ?? [];
    const video = local?.getVideoTracks() ?? [];
    const mute = this.toggle(audio, "mic", "micOff", t.mute, t.unmute);
    const camera = this.toggle(video, "camera", "cameraOff", t.cameraOff, t.cameraOn);
    const end = h("button", { type: "button", class: "round end", "aria-label": t.end, onclick: () => handlers.end() }, icon("hangUp"));

    this.el = h(
      "div",
      {},
      h("div", { class: "stage" }, this.remote, self, this.state, this.play, this.recording),
      this.focus,
      h("div", { class: "controls" }, mute, camera, end),
      (this.chat = new ChatPanel(t, "visitor", handlers.chat)).el,
    );
  }

  addMessage(message: ChatMessage): void {
    this.chat.add(message);
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

  dispose(): void {
    this.remote.srcObject = null;
  }

  private render(): void {
    const text = !this.online
      ? this.t.reconnecting
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

  private toggle(
    tracks: MediaStreamTrack[],
    onIcon: "mic" | "camera",
    offIcon: "micOff" | "cameraOff",
    offLabel: string,
    onLabel: string,
  ): HTMLButtonElement {
    const button = h("button", {
      type: "button",
      class: "round",
      "aria-pressed": "false",
      "aria-label": offLabel,
      title: offLabel,
      disabled: tracks.length === 0,
    });
    button.append(icon(onIcon));
    button.addEventListener("click", () => {
      const off = button.getAttribute("aria-pressed") !== "true";
      for (const track of tracks) track.enabled = !off;
      button.setAttribute("aria-pressed", String(off));
      // The label names the action; aria-pressed says the state ("Mute microphone, pressed").
      button.title = off ? onLabel : offLabel;
      button.replaceChildren(icon(off ? offIcon : onIcon));
    });
    return button;
  }
}
