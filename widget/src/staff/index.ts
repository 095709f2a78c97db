/**
 * Staff session code shared by the adviser console and the admin console: login with
 * refresh, authorised JSON fetch, and socket.io auth. Keep this API small and stable.
 */
export { ApiError } from "./errors";
export { StaffSession, type Me } from "./session";
export { staffSocket } from "./socket";
