import type { Ack, Answer, CandidatePayload } from "./wire";

export type MediaState = "connecting" | "connected" | "reconnecting" | "failed";

/** How the call's media talks to the server: ``rtc:offer`` (acked with the answer) and ``rtc:candidate``. */
export interface Signals {
  offer(sdp: string): Promise<Ack<Answer>>;
  candidate(candidate: CandidatePayload): void;
  /** Whether signalling can reach the server right now (else an ICE restart waits for it). */
  online(): boolean;
}

// How long "disconnected" may last before we restart ICE ourselves: a short blip heals by
// itself (consent checks resume, RFC 7675), and a restart would needlessly renegotiate.
const DISCONNECTED_GRACE_MS = 8000;
const RESTART_RETRY_MS = 3000;
const MAX_RESTARTS = 8;

/**
 * The visitor's leg: one RTCPeerConnection to the server, which answers (W3C JSEP: the
 * browser always offers). Candidates are trickled, but only once the answer to the offer
 * they belong to is applied, so the server never sees a candidate before its offer. When
 * the connection fails or stays disconnected, ICE is restarted with a new offer
 * (RFC 8445 section 9, JSEP section 3.5.1: ``iceRestart``).
 */
export class CallMedia {
  readonly remote = new MediaStream();
  private readonly pc: RTCPeerConnection;
  private pending: CandidatePayload[] | null = [];
  private negotiating = false;
  private restartWanted = false;
  private restarts = 0;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disconnectedAt = 0;

  constructor(
    iceServers: RTCIceServer[],
    local: MediaStream | null,
    private readonly signals: Signals,
    private readonly onState: (state: MediaState) => void,
    private readonly onRemoteTrack: (stream: MediaStream) => void,
  ) {
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    const kinds = new Set<string>();
    for (const track of local?.getTracks() ?? []) {
      this.pc.addTrack(track, local as MediaStream);
      kinds.add(track.kind);
    }
    // Without a camera or microphone we still receive the adviser's.
    for (const kind of ["audio", "video"]) {
      if (!kinds.has(kind)) this.pc.addTransceiver(kind, { direction: "recvonly" });
    }
    this.pc.addEventListener("icecandidate", (event) => {
      const c = event.candidate;
      this.trickle(
        c && c.candidate
          ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
          : { candidate: null, sdpMid: null, sdpMLineIndex: null },
      );
    });
    this.pc.addEventListener("track", (event) => {
      if (!this.remote.getTracks().includes(event.track)) this.remote.addTrack(event.track);
      this.onRemoteTrack(this.remote);
    });
    this.pc.addEventListener("connectionstatechange", () => this.connectionChanged());
  }

  get state(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  start(): Promise<void> {
    this.onState("connecting");
    return this.negotiate(false);
  }

  /** Restart ICE (after a network change or a signalling reconnect) if the connection
   * failed, or has been disconnected for longer than a blip. */
  restartIfBroken(): void {
    const state = this.pc.connectionState;
    const stale = state === "disconnected" && Date.now() - this.disconnectedAt >= DISCONNECTED_GRACE_MS;
    if (state === "failed" || stale) void this.negotiate(true);
  }

  addRemoteCandidate(candidate: CandidatePayload): void {
    if (this.closed || !candidate.candidate) return;
    const init: RTCIceCandidateInit = {
      candidate: candidate.candidate,
      sdpMid: candidate.sdpMid,
      sdpMLineIndex: candidate.sdpMLineIndex,
    };
    this.pc.addIceCandidate(init).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.pc.close();
  }

  private trickle(candidate: CandidatePayload): void {
    if (this.closed) return;
    if (this.pending) this.pending.push(candidate);
    else this.signals.candidate(candidate);
  }

  private async negotiate(iceRestart: boolean): Promise<void> {
    if (this.closed) return;
    if (this.negotiating) {
      this.restartWanted ||= iceRestart;
      return;
    }
    if (iceRestart && !this.signals.online()) return; // the reconnect will ask again
    this.negotiating = true;
    let ok = false;
    try {
      this.pending = [];
      const offer = await this.pc.createOffer(iceRestart ? { iceRestart: true } : {});
      await this.pc.setLocalDescription(offer);
      const sdp = this.pc.localDescription?.sdp ?? offer.sdp ?? "";
      const answer = await this.signals.offer(sdp);
      if (this.closed) return;
      if (!answer.ok) throw new Error(answer.error.code);
      await this.pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
      const queued = this.pending ?? [];
      this.pending = null;
      for (const candidate of queued) this.signals.candidate(candidate);
      ok = true;
    } catch {
      // Roll back a half-done offer so the next attempt starts from a stable state.
      if (!this.closed && this.pc.signalingState === "have-local-offer") {
        await this.pc.setLocalDescription({ type: "rollback" }).catch(() => undefined);
      }
      this.pending = null;
    } finally {
      this.negotiating = false;
    }
    if (this.closed) return;
    if (!ok) {
      this.retryLater();
    } else if (this.restartWanted) {
      this.restartWanted = false;
      void this.negotiate(true);
    }
  }

  private retryLater(): void {
    if (this.restarts >= MAX_RESTARTS) {
      this.onState("failed");
      return;
    }
    this.restarts += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.negotiate(true), RESTART_RETRY_MS);
  }

  private connectionChanged(): void {
    if (this.closed) return;
    const state = this.pc.connectionState;
    clearTimeout(this.timer);
    if (state === "connected") {
      this.restarts = 0;
      this.onState("connected");
    } else if (state === "disconnected") {
      this.disconnectedAt = Date.now();
      this.onState("reconnecting");
      this.timer = setTimeout(() => this.restartIfBroken(), DISCONNECTED_GRACE_MS);
    } else if (state === "failed") {
      this.onState("reconnecting");
      this.restartIfBroken();
    }
  }
}
