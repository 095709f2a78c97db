import type { Socket } from "socket.io-client";
import { openSocket } from "../shared/socket";
import type { StaffSession } from "./session";

/**
 * A socket.io connection for a staff member (namespace ``/adviser`` by default). The token
 * is fetched (and refreshed when needed) on every (re)connect, so a long-open console never
 * reconnects with an expired one.
 *
 * The server closes a staff socket when its access token expires and when the account
 * changes (a new role, password or location; signaling/staff_watch.py). Either way the token
 * in hand is spent: it is refreshed before the reconnect (``SequencedSocket`` reconnects after
 * a server-side close and resumes the session), so the adviser notices nothing; a refresh
 * the server refuses (a deactivated account) ends the session and shows the login.
 */
export function staffSocket(session: StaffSession, namespace = "/adviser", base: string = location.origin): Socket {
  const socket = openSocket(base, namespace, (callback) => {
    session.accessToken().then(
      (token) => callback({ token }),
      () => callback({ token: "" }),
    );
  });
  // Registered before SequencedSocket's own listener, which reconnects: the refresh comes first.
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") session.invalidate();
  });
  return socket;
}
