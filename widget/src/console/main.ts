// The adviser console (/console/): log in, then the desk. The staff session lives in
// src/staff/ (shared with the admin console).
import { type Me, StaffSession } from "../staff";
import { Desk } from "./desk";
import { LoginView } from "./login";
import { twoFactorGate } from "../staff/twofactor";
import { t, useStaffLanguage } from "../staff/texts";

const root = document.getElementById("app") as HTMLElement;
// Until we know who logs in: the browser's language.
useStaffLanguage(null);
document.title = t("desk.title");
const session = new StaffSession();
let desk: Desk | null = null;

function showLogin(notice = ""): void {
  desk?.dispose();
  desk = null;
  // Through the two-factor enrolment first when the role (or the organisation) requires it.
  const view = new LoginView(
    session,
    (me) => {
      useStaffLanguage(me.ui_language);
      void twoFactorGate(session, root, me, showDesk);
    },
    notice,
  );
  root.replaceChildren(view.el);
  view.focus();
}

function showDesk(me: Me): void {
  useStaffLanguage(me.ui_language);
  document.title = t("desk.title");
  desk?.dispose();
  desk = new Desk(session, me, () => void session.logout());
  root.replaceChildren(desk.el);
  void desk.start();
}

session.onLogout(() => showLogin(t("login.loggedOut")));

session.restore().then(
  (me) => (me ? showDesk(me) : showLogin()),
  () => showLogin(t("login.unreachableReload")),
);
