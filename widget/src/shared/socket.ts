/**
 * The resumable socket.io session that both parties of a call hold: the visitor on
 * ``/visitor``, the adviser on ``/adviser`` (the server side is signaling/sockets.py).
 *
 * - After every (re)connect the client sends ``session:resume {last_seq}`` (0 the first time)
 *   and nothing else until it is answered: the server learns where we stand before anything
 *   we ask, and what was asked meanwhile goes out after it, in the order it was asked.
 * - The server replays what we missed before it answers. Every server event carries a
 *   per-session ``seq``; one seen before (a replay that overlaps live delivery) is dropped, so
 *   each handler sees each event once.
 * - Until the first ``session:resume`` is answered, events are counted but not handled: on a
 *   fresh page they are the session's history (replayed from seq 0), and the answer's state
 *   already says where things stand now. After a reconnect the replay is handled: it is what
 *   we missed.
 * - A request waits ``ACK_TIMEOUT_MS`` in all for its acknowledgement, the wait for the resume
 *   included; a timeout, or a connection lost meanwhile, reads as the error ack ``timeout``.
 *   An ack ``busy`` (nothing was done) is asked again within that time.
 */
import { io, type Socket, type SocketOptions } from "socket.io-client";
import type { Ack } from "./wire";

const ACK_TIMEOUT_MS = 10_000;
const BUSY_PAUSE_MS = 1_000;

/** One handler per server event; the mapped type makes the list of events complete. */
export type Handlers<Events> = { [E in keyof Events]: (data: Events[E]) => void };

export interface SocketObserver<Resumed extends object> {
  /** After every (re)connect, once ``session:resume`` is answered (``first``: the first time). */
  resumed(state: Ack<Resumed>, first: boolean): void;
  /** The connection dropped; socket.io is reconnecting by itself. */
  dropped(): void;
  /** The server refused us for good (a bad or expired token, a role without access). */
  refused(code: string): void;
}

/** A socket.io connection to ``namespace`` on Loket at ``base`` (its origin and path prefix). */
export function openSocket(base: string, namespace: string, auth: NonNullable<SocketOptions["auth"]>): Socket {
  const url = new URL(base);
  return io(`${url.origin}${namespace}`, {
    path: `${url.pathname.replace(/\/$/, "")}/socket.io`,
    auth,
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    forceNew: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
    timeout: 10_000,
  });
}

export class SequencedSocket<Events extends object, Resumed extends object> {
  private readonly seen = new Set<number>();
  /** Highest seq up to which every event arrived: what ``session:resume`` asks after. */
  private lastSeq = 0;
  private connects = 0;
  /** This connection's ``session:resume`` is answered: requests may go out. */
  private open = false;
  /** The first ``session:resume`` is answered: events are handled from now on. */
  private live = false;
  /** Sends and requests made while not open, in order. */
  private held: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    handlers: Handlers<Events>,
    private readonly observer: SocketObserver<Resumed>,
  ) {
    for (const [event, handle] of Object.entries(handlers) as [string, (data: unknown) => void][]) {
      socket.on(event, (data: { seq?: number }) => {
        if (this.fresh(data.seq) && this.live) handle(data);
      });
    }
    socket.on("connect", () => void this.resume());
    socket.on("disconnect", (reason) => {
      this.open = false;
      if (reason === "io client disconnect") return;
      this.observer.dropped();
      // The server closed this connection itself (e.g. a restarting node): socket.io does
      // not reconnect on its own in that case, but the session is still ours to resume.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", (error: Error & { data?: { code?: string } }) => {
      const code = error.data?.code;
      if (code) {
        // Refused by the namespace (a token problem): retrying cannot help.
        socket.disconnect();
        this.observer.refused(code);
      }
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Send ``event`` and wait for its acknowledgement (a timeout reads as an error ack). */
  request<T extends object = object>(event: string, data: object = {}): Promise<Ack<T>> {
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    return new Promise((resolve) => {
      const emit = () => {
        clearTimeout(expiry);
        void this.ask<T>(event, data, deadline).then(resolve);
      };
      // Like socket.io's own buffer: a request that times out while held is never sent.
      const expiry = this.open
        ? undefined
        : setTimeout(() => {
            this.held = this.held.filter((held) => held !== emit);
            resolve(timedOut(event));
          }, ACK_TIMEOUT_MS);
      this.whenOpen(emit);
    });
  }

  /** Send without waiting (``rtc:candidate``); the ack is not needed. */
  send(event: string, data: object): void {
    this.whenOpen(() => this.socket.emit(event, data));
  }

  close(): void {
    this.held = [];
    this.socket.disconnect();
  }

  private whenOpen(emit: () => void): void {
    if (this.open) emit();
    else this.held.push(emit);
  }

  private async ask<T extends object>(event: string, data: object, deadline: number): Promise<Ack<T>> {
    for (;;) {
      let ack: Ack<T>;
      try {
        ack = (await this.socket.timeout(Math.max(0, deadline - Date.now())).emitWithAck(event, data)) as Ack<T>;
      } catch {
        return timedOut(event);
      }
      // "busy": the server did nothing (the organisation's lock was held too long by others),
      // so the same request is asked again after a pause, spread so the askers do not return
      // together, for as long as the deadline allows.
      const pause = BUSY_PAUSE_MS * (0.5 + Math.random());
      if (ack.ok || ack.error.code !== "busy" || Date.now() + pause >= deadline) return ack;
      await new Promise((resume) => setTimeout(resume, pause));
    }
  }

  private async resume(): Promise<void> {
    const first = this.connects === 0;
    this.connects += 1;
    const state = await this.ask<Resumed>("session:resume", { last_seq: this.lastSeq }, Date.now() + ACK_TIMEOUT_MS);
    this.live = true;
    // Any answer opens the gate, an error too; a connection lost meanwhile resumes again.
    this.open = this.socket.connected;
    if (this.open) {
      const held = this.held;
      this.held = [];
      for (const emit of held) emit();
    }
    this.observer.resumed(state, first);
  }

  private fresh(seq: number | undefined): boolean {
    if (typeof seq !== "number") return true;
    if (this.seen.has(seq) || seq <= this.lastSeq) return false;
    this.seen.add(seq);
    while (this.seen.has(this.lastSeq + 1)) {
      this.seen.delete(this.lastSeq + 1);
      this.lastSeq += 1;
    }
    return true;
  }
}

function timedOut<T extends object>(event: string): Ack<T> {
  return { ok: false, error: { code: "timeout", message: `no answer to ${event}` } };
}
