import { h } from "../shared/dom";
import type { Language } from "../shared/i18n";
import type { CallMedia } from "../shared/rtc";
import type { Ack, AcceptedEvent, ChatMessage, ConsentText, EndedEvent, Joined, VisitorResumed, WidgetSession } from "../shared/wire";
import { ApiError, createSession, loadImage, rateCall } from "./api";
import { switchCamera } from "./camera";
import { openCall, sendConsent } from "./call_setup";
import { CameraHold } from "./camera_hold";
import type { WidgetConfig } from "./config";
import { connectVisitor, type Ready, type VisitorSocket } from "./connection";
import type { Emitter } from "./emitter";
import type { LoketOpenOptions } from "./public";
import { type Catalogue, catalogue, formatOpening } from "./i18n";
import type { CallView } from "./ui/call";
import { EndedView, type Ending } from "./ui/ended";
import { Launcher } from "./ui/launcher";
import { MessageView } from "./ui/message";
import { Panel } from "./ui/panel";
import { type Choice, PrecallView } from "./ui/precall";
import { adoptStyles } from "./ui/styles";
import { etaText, WaitingView } from "./ui/waiting";

type Phase = "idle" | "loading" | "precall" | "joining" | "waiting" | "call" | "ended" | "error";

/**
 * The visitor's whole journey: launcher → pre-call → waiting → call → ended. It owns the
 * widget session, the socket, the camera and the peer connection, and releases each one as
 * soon as it is no longer needed (the camera light goes off when the panel closes before a
 * call, and when a call ends).
 */
export class Widget {
  private readonly t: Catalogue;
  private readonly launcher: Launcher;
  private readonly panel: Panel;
  private phase: Phase = "idle";
  private session: WidgetSession | null = null;
  private socket: VisitorSocket | null = null;
  private readonly camera = new CameraHold(
    () => this.phase === "precall" || this.phase === "joining",
    (local) => this.precall?.setMedia(local),
  );
  private media: CallMedia | null = null;
  private precall: PrecallView | null = null;
  private waiting: WaitingView | null = null;
  private callView: CallView | null = null;
  private reference = "";
  /** The joined queue's time zone: the time to try again is shown in it. */
  private queueZone: string | undefined;
  private place = { position: 0, eta: null as number | null };
  private recording = false;
  /** The consent text the visitor answered; a withdrawal names the same one. */
  private consentText: ConsentText | null = null;
  private leaving = false;
  private online = true;
  /** A chat line arrived while the panel was closed. */
  private unread = false;
  /** Announces what happens while the panel is closed (its own live region is hidden with it). */
  private readonly notice = h("div", { class: "sr", role: "status", "aria-live": "polite" });
  /** What the page said (``data-context-*``, then ``Loket.open({context})``); sent with the session. */
  private context: Record<string, string>;
  /** Counts begin() calls, so that a slow one that was overtaken gives up. */
  private attempt = 0;

  constructor(
    private readonly config: WidgetConfig,
    private readonly language: Language,
    private readonly emitter: Emitter,
  ) {
    this.t = catalogue(language);
    this.context = { ...config.context };
    this.panel = new Panel(this.t, () => this.close());
    this.launcher = new Launcher(this.t, this.panel.id, () => this.open());
  }

  /** Put the widget on the page: one element, everything else in its shadow root. */
  mount(): void {
    const host = document.createElement("loket-widget");
    // Open, so that tests and assistive tooling can look inside; the page's CSS cannot.
    const root = host.attachShadow({ mode: "open" });
    adoptStyles(root);
    const wrapper = h("div", { class: "root", lang: this.language }, this.launcher.el, this.panel.el, this.notice);
    wrapper.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.panel.visible) {
        event.stopPropagation();
        this.close();
      }
    });
    root.append(wrapper);
    document.body.appendChild(host);
    window.addEventListener("online", () => this.media?.recoverIfBroken());
    this.syncLauncher();
  }

  open(options?: LoketOpenOptions): void {
    const wasVisible = this.panel.visible;
    if (options?.context && (this.phase === "idle" || this.phase === "error" || this.phase === "ended")) {
      // A new context needs a new session (a call's context is fixed when it is created).
      this.context = { ...this.config.context, ...options.context };
      this.session = null;
    }
    this.panel.visible = true;
    this.syncLauncher();
    if (this.phase === "idle" || this.phase === "error" || this.phase === "ended") {
      void this.begin();
    } else if (!wasVisible) {
      this.panel.current?.focus.focus();
    }
    if (!wasVisible) this.emitter.emit("open", {});
  }

  close(): void {
    if (!this.panel.visible) return;
    this.panel.visible = false;
    if (this.phase === "precall" || this.phase === "loading") {
      // Not calling after all: release the camera; the unused session can be reused.
      this.camera.release();
      this.phase = "idle";
    } else if (this.phase === "ended" || this.phase === "error") {
      this.phase = "idle";
    }
    this.syncLauncher();
    this.launcher.el.focus();
    this.emitter.emit("close", {});
  }

  // -- pre-call ------------------------------------------------------------------------

  private async begin(): Promise<void> {
    const attempt = ++this.attempt;
    this.phase = "loading";
    this.panel.show(new MessageView(this.t.joining, ""));
    this.panel.current?.focus.focus();
    try {
      this.session ??= await createSession(this.config.base, this.config.key, this.context);
    } catch (error) {
      if (attempt !== this.attempt) return;
      this.fail(error instanceof ApiError && error.status === 403 ? this.t.errorNotAllowed : this.t.errorUnavailable);
      if (error instanceof ApiError && error.status === 403) {
        console.warn(`Loket: ${error.code}: ${error.message} (widget key ${this.config.key}, origin ${location.origin})`);
      }
      return;
    }
    if (this.phase !== "loading" || attempt !== this.attempt) return;
    if (this.session.queues.length === 0) {
      this.fail(this.t.errorNotAllowed);
      return;
    }
    this.phase = "precall";
    this.precall = new PrecallView(this.t, this.language, this.session, {
      join: (choice) => void this.join(choice),
      retryDevices: () => void this.camera.open(),
    });
    this.panel.show(this.precall);
    this.precall.focus.focus();
    await this.camera.open();
  }

  private async join(choice: Choice): Promise<void> {
    if (this.phase !== "precall") return;
    this.phase = "joining";
    this.precall?.setBusy(true);
    await this.camera.ready();
    // A session refused earlier (expired, already used) is replaced by a fresh one.
    const session = (this.session ??= await createSession(this.config.base, this.config.key, this.context).catch(() => null));
    if (this.phase !== "joining") return;
    if (!session) {
      this.phase = "precall";
      this.precall?.setBusy(false, this.t.errorUnavailable);
      return;
    }
    const socket = this.connect(session);
    const ready = await socket.ready;
    const joined = ready.ok
      ? await socket.request<Joined>("queue:join", { queue_id: choice.queue.id, language: choice.language })
      : ready;
    if (!joined.ok) {
      this.socket?.close();
      this.socket = null;
      if (this.phase !== "joining") return;
      this.phase = "precall";
      const code = joined.error.code;
      const expired = code === "unauthenticated";
      this.precall?.setBusy(
        false,
        code === "queue_closed" ? this.t.closedNow : expired ? this.t.errorExpired : this.t.joinFailed,
      );
      if (code === "already_joined" || expired) this.session = null;
      return;
    }
    this.reference = joined.reference;
    this.queueZone = choice.queue.timezone;
    if (choice.consent) {
      this.consentText = choice.consent.text;
      sendConsent(socket, choice.consent);
    }
    if (this.phase !== "joining") return; // already accepted (a very quick adviser)
    if (this.place.position === 0) this.place.position = joined.position;
    this.phase = "waiting";
    this.waiting = new WaitingView(this.t, this.camera.stream, () => void this.leave());
    this.waiting.update(this.place.position, this.place.eta);
    this.waiting.setOnline(this.online);
    this.panel.show(this.waiting);
    this.panel.announce(`${this.t.position(this.place.position)} ${etaText(this.t, this.place.eta)}`);
    this.emitter.emit("queued", { position: this.place.position, eta_seconds: this.place.eta });
    this.syncLauncher();
  }

  private connect(session: WidgetSession): VisitorSocket & { ready: Promise<Ready> } {
    const socket = connectVisitor(this.config.base, session.visitor_token, {
      events: {
        "queue:position": (data) => this.positionChanged(data.position, data.eta_seconds),
        "call:accepted": (data) => this.accepted(data),
        "call:transferred": () => this.transferred(),
        "call:transfer_failed": () => this.callView?.setTransferring(false),
        "share:state": (data) => this.callView?.setSharing(data.active),
        "call:ended": (data) => this.ended(data),
        "media:renegotiate": () => this.media?.renegotiate(),
        "recording:state": (data) => this.recordingChanged(data.active),
        "chat:message": (data) => this.chatMessage(data),
        "attachment:added": (data) =>
          this.callView?.addAttachment(data, () => loadImage(this.config.base, session.visitor_token, data.id)),
        "rtc:candidate": (data) => this.media?.addRemoteCandidate(data),
      },
      resumed: (state) => this.resumed(state),
      online: (online) => this.setOnline(online),
      refused: () => {
        if (this.phase === "waiting" || this.phase === "call") {
          this.ended({ call_id: "", reason: "disconnected", reference: this.reference });
        }
      },
    });
    this.socket = socket;
    return socket;
  }

  // -- waiting -------------------------------------------------------------------------

  private positionChanged(position: number, eta: number | null): void {
    const changed = position !== this.place.position || eta !== this.place.eta;
    this.place = { position, eta };
    if (this.phase !== "waiting" || !this.waiting || !changed) return;
    this.emitter.emit("queued", { position, eta_seconds: eta });
    this.waiting.update(position, eta);
    this.syncLauncher();
  }

  private async leave(): Promise<void> {
    this.leaving = true;
    this.waiting?.setLeaving();
    const ack = await this.socket?.request<{ reference: string; privacy_key: string }>("queue:leave");
    if (ack?.ok) this.ended({ call_id: "", reason: "visitor_ended", reference: ack.reference, privacy_key: ack.privacy_key });
  }

  // -- call ----------------------------------------------------------------------------

  /** Passed on: the visitor stays in the call view and keeps their media (only the adviser's
   * side is replaced); the next adviser's ``call:accepted`` names them. */
  private transferred(): void {
    this.callView?.setTransferring(true);
    this.callView?.setSharing(false);
    this.panel.announce(this.t.transferring);
    this.emitter.emit("transferred", {});
  }

  private accepted(data: AcceptedEvent): void {
    if (this.phase === "call" && this.callView) {
      // The next adviser after a transfer: same call, same media.
      this.callView.setTransferring(false, data.adviser.display_name);
      this.panel.announce(this.t.callWith(data.adviser.display_name || this.t.adviser));
      return;
    }
    if (this.phase !== "waiting" && this.phase !== "joining") return;
    const session = this.session;
    const socket = this.socket;
    if (!session || !socket) return;
    this.phase = "call";
    this.reference = data.reference || this.reference;
    const call = openCall(this.t, this.config.base, session, socket, data.adviser.display_name, this.camera.stream, {
      end: () => void this.hangUp(),
      stopRecording: () => void this.withdrawConsent(),
      switchCamera: () => void this.switchCamera(),
    });
    this.callView = call.view;
    this.callView.setRecording(this.recording);
    this.callView.setOnline(this.online);
    this.panel.visible = true;
    this.panel.show(this.callView, { wide: true });
    this.panel.announce(this.t.callWith(data.adviser.display_name || this.t.adviser));
    this.syncLauncher();
    this.media = call.media;
    void this.media.start();
    this.emitter.emit("accepted", {});
  }

  /** Front/rear: the next camera's track replaces the current one on the connection. */
  private async switchCamera(): Promise<void> {
    const stream = this.camera.stream;
    if (!stream) return;
    await switchCamera(stream, async (track) => {
      await this.media?.replaceTrack(track);
    }).catch(() => false);
  }

  private recordingChanged(active: boolean): void {
    this.recording = active;
    this.callView?.setRecording(active);
    this.panel.announce(active ? this.t.recording : "");
  }

  private async withdrawConsent(): Promise<void> {
    const text = this.consentText;
    if (!text) return;
    await this.socket?.request("consent:set", { recording: false, text_id: text.id, language: text.language });
  }

  private async hangUp(): Promise<void> {
    const ack = await this.socket?.request<{ reference: string; privacy_key: string }>("call:end");
    if (ack?.ok) this.ended({ call_id: "", reason: "visitor_ended", reference: ack.reference, privacy_key: ack.privacy_key });
  }

  // -- reconnects ----------------------------------------------------------------------

  private setOnline(online: boolean): void {
    this.online = online;
    this.waiting?.setOnline(online);
    this.callView?.setOnline(online);
  }

  /** After a reconnect: the server says where we stand; missed events were replayed already. */
  private resumed(state: Ack<VisitorResumed>): void {
    if (!state.ok) return; // a gap in the event log: keep the state we have
    const call = state.call;
    if (call === null) {
      if (this.phase === "waiting" || this.phase === "call") {
        this.ended({ call_id: "", reason: "disconnected", reference: this.reference });
      }
      return;
    }
    if (this.phase === "waiting" && typeof call.position === "number") {
      this.positionChanged(call.position, this.place.eta);
    }
    if (this.phase === "call") {
      this.callView?.setTransferring(call.transferring === true);
      this.callView?.setSharing(call.sharing === true);
      this.media?.recoverIfBroken();
    }
  }

  // -- the end -------------------------------------------------------------------------

  private ended(data: EndedEvent): void {
    if (this.phase === "ended" || this.phase === "idle" || this.phase === "precall") return;
    const ending: Ending = {
      reference: data.reference || this.reference,
      privacyKey: data.privacy_key ?? "",
      reason: data.reason,
      left: this.leaving && this.phase === "waiting",
      answered: this.phase === "call",
      retryAt: data.retry_at ? formatOpening(data.retry_at, this.language, this.queueZone) : "",
    };
    // The socket closes with the call; the rating goes over REST with the call's own token.
    const token = this.session?.visitor_token;
    const base = this.config.base;
    this.teardown();
    this.phase = "ended";
    const view = new EndedView(this.t, base, ending, {
      again: () => void this.begin(),
      close: () => this.close(),
      rate: token ? (rating) => rateCall(base, token, rating) : null,
    });
    this.panel.visible = true;
    this.panel.show(view);
    this.panel.announce(view.focus.textContent ?? "");
    this.syncLauncher();
    // The reason only: never the reference or the privacy key (the host page is a third party).
    this.emitter.emit("ended", { reason: ending.reason });
  }

  private fail(text: string): void {
    this.teardown();
    this.phase = "error";
    this.panel.show(new MessageView(this.t.errorTitle, text, { label: this.t.retry, run: () => void this.begin() }));
    this.syncLauncher();
  }

  /** Release everything a call holds; the visitor token was good for this one call only. */
  private teardown(): void {
    this.media?.close();
    this.media = null;
    this.socket?.close();
    this.socket = null;
    this.camera.release();
    this.session = null;
    this.precall = this.waiting = this.callView = null;
    this.recording = this.leaving = false;
    this.consentText = null;
    this.queueZone = undefined;
    this.place = { position: 0, eta: null };
    this.online = true;
  }

  private syncLauncher(): void {
    const state = this.phase === "waiting" || this.phase === "joining" ? "waiting" : this.phase === "call" ? "call" : "idle";
    if (this.panel.visible) this.unread = false;
    this.launcher.set(state, this.panel.visible, this.unread);
  }

  /** A chat line: shown in the call's chat log (which screen readers announce); with the
   * panel closed, the launcher says so and a live region outside the panel reads it out. */
  private chatMessage(message: ChatMessage): void {
    this.callView?.addMessage(message);
    if (this.panel.visible || message.from !== "adviser" || this.phase !== "call") return;
    this.unread = true;
    this.syncLauncher();
    this.notice.textContent = "";
    setTimeout(() => {
      this.notice.textContent = `${this.t.chatNew}: ${message.text}`;
    }, 50);
  }
}

