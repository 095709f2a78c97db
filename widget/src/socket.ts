import { io, type Socket } from "socket.io-client";
import type { Ack, Resumed, ServerEvents } from "./types";

const ACK_TIMEOUT_MS = 10_000;
const SERVER_EVENTS: (keyof ServerEvents)[] = [
  "queue:position",
  "call:accepted",
  "call:ended",
  "recording:state",
  "rtc:candidate",
  "chat:message",
];

export type ServerHandlers = { [E in keyof ServerEvents]: (data: ServerEvents[E]) => void };

export interface SocketObserver {
  /** After every (re)connect, once ``session:resume`` is acknowledged. */
  resumed(state: Ack<Resumed>, first: boolean): void;
  /** The connection dropped; socket.io is reconnecting by itself. */
  dropped(): void;
  /** The server refused us for good (bad or expired token). */
  refused(code: string): void;
}

/**
 * The visitor's socket.io session (namespace ``/visitor``).
 *
 * After every (re)connect it sends ``session:resume {last_seq}``: the server replays what we
 * missed. Every server event carries a per-session ``seq``; one seen before (a replay that
 * overlaps live delivery) is dropped here, so the handlers see each event once.
 */
export class VisitorSocket {
  private readonly socket: Socket;
  private readonly seen = new Set<number>();
  /** Highest seq up to which every event arrived: what ``session:resume`` asks after. */
  private lastSeq = 0;
  private connects = 0;

  constructor(
    base: string,
    token: string,
    private readonly handlers: ServerHandlers,
    private readonly observer: SocketObserver,
  ) {
    const url = new URL(base);
    this.socket = io(`${url.origin}/visitor`, {
      path: `${url.pathname.replace(/\/$/, "")}/socket.io`,
      auth: { token },
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      forceNew: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 10_000,
    });
    for (const event of SERVER_EVENTS) {
      this.socket.on(event, (data: ServerEvents[typeof event] & { seq?: number }) => this.deliver(event, data));
    }
    this.socket.on("connect", () => void this.resume());
    this.socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      this.observer.dropped();
      // The server closed this connection itself (e.g. a restarting node): socket.io does
      // not reconnect on its own in that case, but the session is still ours to resume.
      if (reason === "io server disconnect") this.socket.connect();
    });
    this.socket.on("connect_error", (error: Error & { data?: { code?: string } }) => {
      const code = error.data?.code;
      if (code) {
        // Refused by the namespace (a token problem): retrying cannot help.
        this.socket.disconnect();
        this.observer.refused(code);
      }
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Send ``event`` and wait for its acknowledgement (a timeout reads as an error ack). */
  async request<T extends object = object>(event: string, data?: object): Promise<Ack<T>> {
    try {
      const ack = (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data ?? {})) as Ack<T>;
      return ack;
    } catch {
      return { ok: false, error: { code: "timeout", message: `no answer to ${event}` } };
    }
  }

  /** Send without waiting (``rtc:candidate``); the ack is not needed. */
  send(event: string, data: object): void {
    this.socket.emit(event, data);
  }

  close(): void {
    this.socket.disconnect();
  }

  private async resume(): Promise<void> {
    const first = this.connects === 0;
    this.connects += 1;
    const state = await this.request<Resumed>("session:resume", { last_seq: this.lastSeq });
    this.observer.resumed(state, first);
  }

  private deliver<E extends keyof ServerEvents>(event: E, data: ServerEvents[E] & { seq?: number }): void {
    const seq = data.seq;
    if (typeof seq === "number") {
      if (this.seen.has(seq) || seq <= this.lastSeq) return;
      this.seen.add(seq);
      while (this.seen.has(this.lastSeq + 1)) {
        this.seen.delete(this.lastSeq + 1);
        this.lastSeq += 1;
      }
    }
    this.handlers[event](data);
  }
}
