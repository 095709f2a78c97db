// The adviser console (/console/): log in, then the desk. The staff session lives in
// src/staff/ (shared with the admin console).
import { type Me, StaffSession } from "../staff";
import { Desk } from "./desk";
import { LoginView } from "./login";
import { twoFactorGate } from "../staff/twofactor";

const root = document.getElementById("app") as HTMLElement;
const session = new StaffSession();
let desk: Desk | null = null;

function showLogin(notice = ""): void {
  desk?.dispose();
  desk = null;
  // Through the two-factor enrolment first when the role (or the organisation) requires it.
  const view = new LoginView(session, (me) => void twoFactorGate(session, root, me, showDesk), notice);
  root.replaceChildren(view.el);
  view.focus();
}

function showDesk(me: Me): void {
  desk?.dispose();
  desk = new Desk(session, me, () => void session.logout());
  root.replaceChildren(desk.el);
  void desk.start();
}

session.onLogout(() => showLogin("You are logged out."));

session.restore().then(
  (me) => (me ? showDesk(me) : showLogin()),
  () => showLogin("Loket cannot be reached. Reload the page to try again."),
);
