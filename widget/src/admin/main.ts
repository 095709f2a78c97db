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
import { QUEUE_CONSENT_TEXTS } from "./queue_consent_texts";
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

interface Section {
  id: string;
  label: string;
  roles: Role[];
  build: (ctx: Context) => HTMLElement;
}

const SECTIONS: Section[] = [
  { id: "queues", label: "Queues", roles: ["admin", "supervisor"], build: queuesSection },
  { id: "users", label: "Users and roles", roles: ["admin", "supervisor"], build: usersSection },
  { id: "widget-keys", label: "Widget keys", roles: ["admin"], build: widgetKeysSection },
  { id: "locations", label: "Locations", roles: ["admin"], build: locationsSection },
  { id: "retention", label: "Retention rules", roles: ["admin", "dpo"], build: retentionSection },
  { id: "recordings", label: "Recordings", roles: ["admin", "supervisor", "dpo"], build: recordingsSection },
  { id: "transcripts", label: "Transcripts", roles: ["admin", "supervisor", "dpo"], build: transcriptsSection },
  { id: "calls", label: "Calls", roles: ["admin", "supervisor"], build: (ctx) => callsSection(ctx, session) },
  { id: "wallboard", label: "Wallboard", roles: ["admin", "supervisor"], build: wallboardSection },
  { id: "audit", label: "Audit log", roles: ["admin", "dpo"], build: auditSection },
  { id: "statistics", label: "Statistics", roles: ["admin", "supervisor"], build: (ctx) => statisticsSection(ctx, session) },
  { id: "two-factor", label: "Two-factor authentication", roles: ["admin", "supervisor", "dpo", "adviser"], build: (ctx) => securitySection(ctx, session) },
  { id: "api-keys", label: "API keys", roles: ["admin"], build: apiKeysSection },
  { id: "webhooks", label: "Webhooks", roles: ["admin"], build: webhooksSection },
  { id: "consent-texts", label: QUEUE_CONSENT_TEXTS.consent.title, roles: ["admin", "dpo"], build: consentSection },
  { id: "dpa", label: "Data processing agreement", roles: ["admin", "supervisor", "dpo"], build: dpaSection },
];

const root = document.getElementById("app") as HTMLElement;
const session = new StaffSession();
let stopHashWatch: (() => void) | null = null;

function showLogin(notice = ""): void {
  stopHashWatch?.();
  document.title = "Loket — administration";
  replace(root, loginView(session, enter, notice));
}

/** Into the console, through the two-factor enrolment first when the role needs it and has none. */
function enter(me: Me): void {
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
          h("h1", {}, "Nothing to administer"),
          h("p", {}, `Your role (${me.role}) has no part of the admin console. Advisers work in the `, h("a", { href: "/console/" }, "adviser console"), "."),
          h("button", { type: "button", class: "btn", onclick: () => void session.logout() }, "Log out"),
        ),
      ),
    );
    return;
  }
  const main = h("main", { id: "main", class: "admin-main", tabindex: "-1" });
  const links = sections.map((section) => h("a", { href: `#${section.id}`, "data-section": section.id }, section.label));
  const open = (): void => {
    const wanted = location.hash.slice(1);
    const section = sections.find((candidate) => candidate.id === wanted) ?? sections[0];
    if (!section) return;
    for (const link of links) {
      if (link.dataset["section"] === section.id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${section.label} — Loket administration`;
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
      "Skip to content",
    ),
    h(
      "header",
      { class: "topbar" },
      h("strong", { class: "brand" }, "Loket · administration"),
      h("span", { class: "spacer" }),
      h("span", { class: "me" }, `${me.display_name || me.email} (${me.role})`),
      h("button", { type: "button", class: "btn ghost small", onclick: () => void session.logout() }, "Log out"),
    ),
    h("div", { class: "layout" }, h("nav", { class: "side", "aria-label": "Sections" }, ...links), main),
  );
  open();
}

session.onLogout(() => showLogin("You are logged out."));
session.restore().then(
  (me) => (me ? enter(me) : showLogin()),
  () => showLogin("Loket cannot be reached. Reload the page to try again."),
);
