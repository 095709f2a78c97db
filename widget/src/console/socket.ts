import type { Socket } from "socket.io-client";
import { staffSocket, type StaffSession } from "../staff";
import type { Ack } from "../types";
import type { AdviserEvents, AdviserResumed } from "./types";

const ACK_TIMEOUT_MS = 10_000;
const EVENTS: (keyof AdviserEvents)[] = [
  "queue:snapshot",
  "call:incoming",
  "call:accepted",
  "call:withdrawn",
  "call:ended",
  "presence:state",
  "recording:state",
  "chat:message",
  "rtc:candidate",
];

export type AdviserHandlers = { [E in keyof AdviserEvents]: (data: AdviserEvents[E]) => void };

export interface AdviserObserver {
  resumed(state: Ack<AdviserResumed>, first: boolean): void;
  dropped(): void;
  refused(code: string): void;
}

/**
 * The adviser's socket.io session (``/adviser``): ``session:resume {last_seq}`` after every
 * (re)connect, and each server event delivered once by its ``seq`` (a replay may overlap
 * live delivery), exactly like the widget's VisitorSocket.
 */
export class AdviserSocket {
  private readonly socket: Socket;
  private readonly seen = new Set<number>();
  private lastSeq = 0;
  private connects = 0;
  /**
   * Until the first ``session:resume`` is acknowledged, events are counted but not handled:
   * on a fresh page they are the session's history (replayed from seq 0), and the ack's
   * state already says where things stand now.
   */
  private ready = false;

  constructor(session: StaffSession, handlers: AdviserHandlers, private readonly observer: AdviserObserver) {
    this.socket = staffSocket(session);
    for (const event of EVENTS) {
      this.socket.on(event, (data: AdviserEvents[typeof event] & { seq?: number }) => {
        if (this.fresh(data.seq) && this.ready) (handlers[event] as (d: typeof data) => void)(data);
      });
    }
    this.socket.on("connect", () => void this.resume());
    this.socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      this.observer.dropped();
      if (reason === "io server disconnect") this.socket.connect();
    });
    this.socket.on("connect_error", (error: Error & { data?: { code?: string } }) => {
      const code = error.data?.code;
      if (code) {
        this.socket.disconnect();
        this.observer.refused(code);
      }
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  async request<T extends object = object>(event: string, data?: object): Promise<Ack<T>> {
    try {
      return (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data ?? {})) as Ack<T>;
    } catch {
      return { ok: false, error: { code: "timeout", message: `no answer to ${event}` } };
    }
  }

  send(event: string, data: object): void {
    this.socket.emit(event, data);
  }

  close(): void {
    this.socket.disconnect();
  }

  private async resume(): Promise<void> {
    const first = this.connects === 0;
    this.connects += 1;
    const state = await this.request<AdviserResumed>("session:resume", { last_seq: this.lastSeq });
    this.ready = true;
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
