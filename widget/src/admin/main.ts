// The admin console (/admin/): log in, then one section at a time, chosen in the side menu
// (and kept in the URL's #hash). What a role may not use is not shown; the server checks anyway.
import { h, replace } from "../shared/dom";
import { type Me, StaffSession } from "../staff/session";
import { AdminApi, type Role } from "./api";
import { auditSection } from "./audit";
import { dpaSection } from "./dpa";
import { callsSection } from "./calls";
import { consentSection } from "./consent";
import { wallboardSection } from "./wallboard";
import type { Context } from "./context";
import { loginView } from "./login";
import { queuesSection } from "./queues";
import { recordingsSection } from "./recordings";
import { retentionSection } from "./retention";
import { statisticsSection } from "./statistics";
import { transcriptsSection } from "./transcripts";
import { usersSection } from "./users";
import { widgetKeysSection } from "./widgetkeys";
import { locationsSection } from "./locations";
import { apiKeysSection } from "./apikeys";
import { securitySection } from "./security";
import { webhooksSection } from "./webhooks";
import { twoFactorGate } from "../staff/twofactor";
import { languageMenu } from "../staff/language";
import { type StaffKey, t, useStaffLanguage } from "../staff/texts";

interface Section {
  id: string;
  label: StaffKey;
  roles: Role[];
  build: (ctx: Context) => HTMLElement;
}

const SECTIONS: Section[] = [
  { id: "queues", label: "nav.queues", roles: ["admin", "supervisor"], build: queuesSection },
  { id: "users", label: "nav.users", roles: ["admin", "supervisor"], build: usersSection },
  { id: "widget-keys", label: "nav.widgetKeys", roles: ["admin"], build: widgetKeysSection },
  { id: "locations", label: "nav.locations", roles: ["admin"], build: locationsSection },
  { id: "retention", label: "nav.retention", roles: ["admin", "dpo"], build: retentionSection },
  { id: "recordings", label: "nav.recordings", roles: ["admin", "supervisor", "dpo"], build: recordingsSection },
  { id: "transcripts", label: "nav.transcripts", roles: ["admin", "supervisor", "dpo"], build: transcriptsSection },
  { id: "calls", label: "nav.calls", roles: ["admin", "supervisor"], build: (ctx) => callsSection(ctx, session) },
  { id: "wallboard", label: "nav.wallboard", roles: ["admin", "supervisor"], build: wallboardSection },
  { id: "audit", label: "nav.audit", roles: ["admin", "dpo"], build: auditSection },
  { id: "statistics", label: "nav.statistics", roles: ["admin", "supervisor"], build: (ctx) => statisticsSection(ctx, session) },
  { id: "two-factor", label: "nav.twoFactor", roles: ["admin", "supervisor", "dpo", "adviser"], build: (ctx) => securitySection(ctx, session) },
  { id: "api-keys", label: "nav.apiKeys", roles: ["admin"], build: apiKeysSection },
  { id: "webhooks", label: "nav.webhooks", roles: ["admin"], build: webhooksSection },
  { id: "consent-texts", label: "nav.consentTexts", roles: ["admin", "dpo"], build: consentSection },
  { id: "dpa", label: "nav.dpa", roles: ["admin", "supervisor", "dpo"], build: dpaSection },
];

const root = document.getElementById("app") as HTMLElement;
// Until we know who logs in: the browser's language.
useStaffLanguage(null);
const session = new StaffSession();
let stopHashWatch: (() => void) | null = null;

function showLogin(notice = ""): void {
  stopHashWatch?.();
  document.title = t("admin.title");
  replace(root, loginView(session, enter, notice));
}

/** Into the console, through the two-factor enrolment first when the role needs it and has none. */
function enter(me: Me): void {
  useStaffLanguage(me.ui_language);
  void twoFactorGate(session, root, me, showConsole);
}

function showConsole(me: Me): void {
  const role = me.role as Role;
  const ctx: Context = { api: new AdminApi(session), me, role };
  const sections = SECTIONS.filter((section) => section.roles.includes(role));
  if (sections.length === 0) {
    replace(
      root,
      h(
        "main",
        { class: "login-page" },
        h(
          "div",
          { class: "card login" },
          h("h1", {}, t("admin.nothing")),
          h("p", {}, t("admin.nothingText", { role: t(`role.${me.role}` as StaffKey) }), " ", h("a", { href: "/console/" }, t("admin.toConsole"))),
          h("button", { type: "button", class: "btn", onclick: () => void session.logout() }, t("app.logout")),
        ),
      ),
    );
    return;
  }
  const main = h("main", { id: "main", class: "admin-main", tabindex: "-1" });
  const links = sections.map((section) => h("a", { href: `#${section.id}`, "data-section": section.id }, t(section.label)));
  const open = (): void => {
    const wanted = location.hash.slice(1);
    const section = sections.find((candidate) => candidate.id === wanted) ?? sections[0];
    if (!section) return;
    for (const link of links) {
      if (link.dataset["section"] === section.id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = t("admin.pageTitle", { section: t(section.label) });
    replace(main, section.build(ctx));
  };
  const onHash = (): void => {
    open();
    main.focus();
  };
  window.addEventListener("hashchange", onHash);
  stopHashWatch = () => window.removeEventListener("hashchange", onHash);
  replace(
    root,
    h(
      "a",
      {
        class: "skip",
        href: "#main",
        // The hash names sections: move focus without changing it.
        onclick: (event: Event) => {
          event.preventDefault();
          main.focus();
        },
      },
      t("admin.skip"),
    ),
    h(
      "header",
      { class: "topbar" },
      h("strong", { class: "brand" }, t("admin.brand")),
      h("span", { class: "spacer" }),
      h("span", { class: "me" }, `${me.display_name || me.email} (${t(`role.${me.role}` as StaffKey)})`),
      languageMenu(session, me, (text) => window.alert(text)),
      h("button", { type: "button", class: "btn ghost small", onclick: () => void session.logout() }, t("app.logout")),
    ),
    h("div", { class: "layout" }, h("nav", { class: "side", "aria-label": t("admin.sections") }, ...links), main),
  );
  open();
}

session.onLogout(() => showLogin(t("login.loggedOut")));
session.restore().then(
  (me) => (me ? enter(me) : showLogin()),
  () => showLogin(t("login.unreachableReload")),
);
