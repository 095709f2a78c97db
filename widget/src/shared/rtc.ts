import type { Ack, Answer, CandidatePayload } from "./wire";

export type MediaState = "connecting" | "connected" | "reconnecting" | "failed";

/** How the call's media talks to the server: ``rtc:offer`` (acked with the answer) and ``rtc:candidate``. */
export interface Signals {
  offer(sdp: string): Promise<Ack<Answer>>;
  candidate(candidate: CandidatePayload): void;
  /** Whether signalling can reach the server right now (else a new offer waits for it). */
  online(): boolean;
}

// How long "disconnected" may last before we give up on the connection: a short blip heals
// by itself (consent checks resume, RFC 7675 section 5.1); longer, the network has changed.
const DISCONNECTED_GRACE_MS = 3000;
const RETRY_MS = 3000;
const MAX_ATTEMPTS = 8;

/**
 * The party's media: one RTCPeerConnection to the server at a time, which answers (JSEP,
 * RFC 8829: the browser always offers). Candidates are trickled, but only once the answer to
 * the offer they belong to is applied, so the server never sees a candidate before its offer.
 *
 * Recovery. When the connection fails, or stays disconnected longer than a blip, the network
 * under it has changed (Wi-Fi to 4G, a new address). An ICE restart (RFC 8445 section 9) on
 * the same connection would not do: the server's aiortc keeps the first ICE credentials it
 * was given. So we make a new RTCPeerConnection with the same local tracks and offer from it,
 * on the same socket; its new ICE credentials and DTLS fingerprint make the server answer
 * with a fresh leg and leave the other party's alone. The old connection is closed only once
 * the new answer is applied: closed earlier, its DTLS close_notify (RFC 5246 section 7.2.1)
 * could still reach the server down a half-working path and read as a party that left.
 */
export class CallMedia {
  private pc: RTCPeerConnection;
  /** The connection being replaced, until its successor's answer is applied. */
  private previous: RTCPeerConnection | null = null;
  private pending: CandidatePayload[] | null = [];
  private busy = false;
  private again = false;
  /** The last offer failed or could not be sent: the next chance must offer again. */
  private broken = false;
  // The server asked for a new connection (media:renegotiate): offer from a new one even if
  // this one still looks connected (its media node is gone, ICE has not noticed yet).
  private stale = false;
  private attempts = 0;
  private closed = false;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private disconnectedAt = 0;

  constructor(
    private readonly iceServers: RTCIceServer[],
    private readonly local: MediaStream | null,
    private readonly signals: Signals,
    private readonly onState: (state: MediaState) => void,
    private readonly onRemoteTrack: (stream: MediaStream) => void,
  ) {
    this.pc = this.connect();
  }

  get state(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  start(): Promise<void> {
    this.onState("connecting");
    return this.negotiate(false);
  }

  /** After a network change or a signalling reconnect: a new connection if this one failed,
   * has been disconnected for longer than a blip, or could not be offered. */
  recoverIfBroken(): void {
    this.attempts = 0; // the network is back: worth trying again
    this.recover();
  }

  /** ``media:renegotiate``: the call's media moved to another server; a new connection offers
   * afresh (through ``recoverIfBroken``, so an offline socket retries when it is back). */
  renegotiate(): void {
    this.stale = true;
    this.broken = true;
    this.recoverIfBroken();
  }

  /** Send ``track`` in place of the local track of its kind (a camera switch): ``replaceTrack``
   * needs no renegotiation (W3C WebRTC §5.2); later connections take it from the stream. */
  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    for (const pc of [this.pc, this.previous]) {
      for (const sender of pc?.getSenders() ?? []) {
        if (sender.track?.kind === track.kind) await sender.replaceTrack(track).catch(() => undefined);
      }
    }
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
    clearTimeout(this.graceTimer);
    clearTimeout(this.retryTimer);
    this.previous?.close();
    this.pc.close();
  }

  /** A connection with the same local tracks; its events count only while it is current. */
  private connect(): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    const local = this.local;
    const kinds = new Set<string>();
    for (const track of local?.getTracks() ?? []) {
      pc.addTrack(track, local as MediaStream);
      kinds.add(track.kind);
    }
    // Without a camera or microphone we still receive the other party's.
    for (const kind of ["audio", "video"]) {
      if (!kinds.has(kind)) pc.addTransceiver(kind, { direction: "recvonly" });
    }
    const remote = new MediaStream();
    pc.addEventListener("icecandidate", (event) => {
      if (pc !== this.pc || this.closed) return;
      const c = event.candidate;
      const payload =
        c && c.candidate
          ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
          : { candidate: null, sdpMid: null, sdpMLineIndex: null };
      if (this.pending) this.pending.push(payload);
      else this.signals.candidate(payload);
    });
    pc.addEventListener("track", (event) => {
      if (pc !== this.pc) return;
      if (!remote.getTracks().includes(event.track)) remote.addTrack(event.track);
      this.onRemoteTrack(remote);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc) this.connectionChanged();
    });
    return pc;
  }

  private recover(): void {
    if (this.closed) return;
    const state = this.pc.connectionState;
    const stale = state === "disconnected" && Date.now() - this.disconnectedAt >= DISCONNECTED_GRACE_MS;
    if (state === "failed" || stale || this.stale || (this.broken && state !== "connected")) {
      void this.negotiate(true);
    }
  }

  /** Offer (from a new connection when ``replace``) and apply the server's answer. */
  private async negotiate(replace: boolean): Promise<void> {
    if (this.closed) return;
    if (this.busy) {
      this.again ||= replace;
      return;
    }
    if (replace && !this.signals.online()) {
      this.broken = true; // the reconnect calls recoverIfBroken()
      return;
    }
    if (replace && this.attempts >= MAX_ATTEMPTS) {
      this.onState("failed");
      return;
    }
    this.busy = true;
    clearTimeout(this.retryTimer);
    if (replace) {
      this.attempts += 1;
      this.previous = this.pc;
      this.pc = this.connect();
      this.onState("reconnecting");
    }
    const ok = await this.offer(this.pc);
    this.busy = false;
    if (this.closed) return;
    const previous = this.previous;
    this.previous = null;
    if (ok) {
      this.broken = false;
      if (replace) this.stale = false;
      // The server has answered from a new leg and retired the old one: now it may go.
      previous?.close();
      if (this.again) {
        this.again = false;
        this.recover();
      }
      return;
    }
    this.broken = true;
    if (previous) {
      // Its DTLS never started, so closing it tells the server nothing; keep the old one,
      // which may still heal, until an attempt succeeds.
      this.pc.close();
      this.pc = previous;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.recover(), RETRY_MS);
  }

  private async offer(pc: RTCPeerConnection): Promise<boolean> {
    this.pending = [];
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const answer = await this.signals.offer(pc.localDescription?.sdp ?? offer.sdp ?? "");
      if (this.closed) return false;
      if (!answer.ok) throw new Error(answer.error.code);
      await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
      const queued = this.pending ?? [];
      this.pending = null;
      for (const candidate of queued) this.signals.candidate(candidate);
      return true;
    } catch {
      this.pending = null;
      return false;
    }
  }

  private connectionChanged(): void {
    if (this.closed) return;
    const state = this.pc.connectionState;
    clearTimeout(this.graceTimer);
    if (state === "connected") {
      this.attempts = 0;
      this.onState("connected");
    } else if (state === "disconnected") {
      this.disconnectedAt = Date.now();
      this.onState("reconnecting");
      const pc = this.pc;
      this.graceTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState === "disconnected") void this.negotiate(true);
      }, DISCONNECTED_GRACE_MS);
    } else if (state === "failed") {
      this.onState("reconnecting");
      this.recover();
    }
  }
}
