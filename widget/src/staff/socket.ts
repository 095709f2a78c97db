import type { Socket } from "socket.io-client";
import { openSocket } from "../shared/socket";
import type { StaffSession } from "./session";

/**
 * A socket.io connection for a staff member (namespace ``/adviser`` by default). The token
 * is fetched (and refreshed when needed) on every (re)connect, so a long-open console never
 * reconnects with an expired one.
 */
export function staffSocket(session: StaffSession, namespace = "/adviser", base: string = location.origin): Socket {
  return openSocket(base, namespace, (callback) => {
    session.accessToken().then(
      (token) => callback({ token }),
      () => callback({ token: "" }),
    );
  });
}
