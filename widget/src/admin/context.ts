import type { Me } from "../staff/session";
import type { AdminApi, Role } from "./api";

/** What every section gets: the API and who is looking (sections show less to lesser roles). */
export interface Context {
  api: AdminApi;
  me: Me;
  role: Role;
}

export const isAdmin = (ctx: Context): boolean => ctx.role === "admin";
