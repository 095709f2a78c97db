import { io, type Socket } from "socket.io-client";
import type { StaffSession } from "./session";

/**
 * A socket.io connection for a staff member (namespace ``/adviser`` by default). The token
 * is fetched (and refreshed when needed) on every (re)connect, so a long-open console never
 * reconnects with an expired one.
 */
export function staffSocket(session: StaffSession, namespace = "/adviser", base: string = location.origin): Socket {
  const url = new URL(base);
  return io(`${url.origin}${namespace}`, {
    path: `${url.pathname.replace(/\/$/, "")}/socket.io`,
    auth: (callback) => {
      session.accessToken().then(
        (token) => callback({ token }),
        () => callback({ token: "" }),
      );
    },
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    forceNew: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
    timeout: 10_000,
  });
}
