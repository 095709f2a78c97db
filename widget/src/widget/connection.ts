import { type Handlers, openSocket, SequencedSocket } from "../shared/socket";
import type { Ack, VisitorEvents, VisitorResumed } from "../shared/wire";

/** The visitor's session on ``/visitor``. */
export type VisitorSocket = SequencedSocket<VisitorEvents, VisitorResumed>;
/** The first ``session:resume`` of a new socket: it is connected and accepted. */
export type Ready = Ack;

/** What the widget does with the server's events and the connection's ups and downs. */
export interface VisitorHandlers {
  events: Handlers<VisitorEvents>;
  /** A later ``session:resume`` after a reconnect (the first one resolves ``ready``). */
  resumed(state: Ack<VisitorResumed>): void;
  online(online: boolean): void;
  /** The server refused the session (expired, already used) after it was accepted. */
  refused(): void;
}

/** Open the visitor's socket; ``ready`` resolves with the first resume (or the refusal). */
export function connectVisitor(
  base: string,
  token: string,
  handlers: VisitorHandlers,
): VisitorSocket & { ready: Promise<Ready> } {
  let resolveReady: (value: Ready) => void = () => undefined;
  const ready = new Promise<Ready>((resolve) => {
    resolveReady = resolve;
  });
  const socket = new SequencedSocket<VisitorEvents, VisitorResumed>(openSocket(base, "/visitor", { token }), handlers.events, {
    resumed: (state, first) => {
      handlers.online(true);
      if (first) resolveReady(state);
      else handlers.resumed(state);
    },
    dropped: () => handlers.online(false),
    refused: (code) => {
      resolveReady({ ok: false, error: { code: "unauthenticated", message: code } });
      handlers.refused();
    },
  });
  return Object.assign(socket, { ready });
}
