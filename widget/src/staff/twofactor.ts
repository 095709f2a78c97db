/**
 * Two-factor enrolment for both consoles: scan a QR code (made by the server with segno), confirm
 * with a first code, store the ten recovery codes shown once. ``twoFactorGate`` shows it before
 * the console when the staff member's role must use two-factor authentication and has not set it
 * up yet: their current login is the one grace login, and the next one would be refused.
 */
import { h, replace } from "../shared/dom";
import { ApiError } from "./errors";
import type { Me, StaffSession } from "./session";
import { errorText, type StaffKey, t } from "./texts";

/** ``GET /api/v1/auth/two-factor``. */
export interface TwoFactorStatus {
  enabled: boolean;
  required: boolean;
  pending: boolean;
  grace_used: boolean;
  recovery_codes_left: number;
}

interface Enrolment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

const BASE = "/api/v1/auth/two-factor";

export function twoFactorStatus(session: StaffSession): Promise<TwoFactorStatus> {
  return session.fetch<TwoFactorStatus>(BASE);
}

function post<T>(session: StaffSession, path: string, body: object): Promise<T> {
  return session.fetch<T>(`${BASE}${path}`, { method: "POST", body: JSON.stringify(body) });
}

function problemText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "invalid_totp") return t("twofactor.notCurrent");
    return errorText(error.code, error.message);
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * The enrolment steps in one element. ``done`` runs after the recovery codes were shown and the
 * person said they stored them.
 */
export function enrolmentView(session: StaffSession, done: () => void): HTMLElement {
  const region = h("div", { class: "enrolment", "data-part": "enrolment" });
  const problem = h("p", { class: "message error", role: "alert", hidden: true });
  const fail = (error: unknown): void => {
    problem.textContent = problemText(error);
    problem.hidden = false;
  };
  const start = h("button", { type: "button", class: "btn primary" }, t("twofactor.setUp"));
  start.addEventListener("click", () => {
    start.disabled = true;
    problem.hidden = true;
    post<Enrolment>(session, "/enrolment", {}).then(
      (enrolment) => replace(region, scanStep(session, enrolment, region, done, fail), problem),
      (error: unknown) => {
        start.disabled = false;
        fail(error);
      },
    );
  });
  replace(
    region,
    h("p", {}, t("twofactor.needApp")),
    start,
    problem,
  );
  return region;
}

function scanStep(
  session: StaffSession,
  enrolment: Enrolment,
  region: HTMLElement,
  done: () => void,
  fail: (error: unknown) => void,
): HTMLElement {
  const code = h("input", {
    id: "enrol-code",
    name: "code",
    inputmode: "numeric",
    pattern: "[0-9]{6}",
    maxlength: 6,
    autocomplete: "one-time-code",
    required: true,
  });
  const confirm = h("button", { type: "submit", class: "btn primary" }, t("twofactor.confirm"));
  const form = h(
    "form",
    { class: "enrol-scan", "aria-label": t("twofactor.confirmLabel") },
    h("p", {}, t("twofactor.scan")),
    h("img", { class: "qr", src: enrolment.qr_svg, alt: t("twofactor.qrAlt"), width: 200, height: 200 }),
    h(
      "p",
      { class: "muted" },
      t("twofactor.cannotScan"),
      h("code", { class: "mono", "data-part": "totp-secret" }, enrolment.secret),
    ),
    h("div", { class: "field" }, h("label", { for: "enrol-code" }, t("twofactor.enterCode")), code),
    h("div", { class: "actions" }, confirm),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    confirm.disabled = true;
    post<{ recovery_codes: string[] }>(session, "/confirmation", { code: code.value.trim() }).then(
      (answer) => replace(region, recoveryStep(answer.recovery_codes, done)),
      (error: unknown) => {
        confirm.disabled = false;
        code.value = "";
        code.focus();
        fail(error);
      },
    );
  });
  queueMicrotask(() => code.focus());
  return form;
}

function recoveryStep(codes: string[], done: () => void): HTMLElement {
  const stored = h("button", { type: "button", class: "btn primary" }, t("twofactor.stored"));
  stored.addEventListener("click", done);
  return h(
    "div",
    { class: "enrol-codes", role: "status" },
    h("p", {}, h("strong", {}, t("twofactor.on"))),
    h(
      "p",
      {},
      t("twofactor.recoveryCodes"),
    ),
    h("ol", { class: "recovery-codes mono", "data-part": "recovery-codes" }, ...codes.map((text) => h("li", {}, text))),
    stored,
  );
}

/**
 * Before the console: when ``me`` must use two-factor authentication and has not set it up, show
 * the enrolment in ``root`` and go on to ``next`` once it is done; otherwise go on at once.
 */
export async function twoFactorGate(session: StaffSession, root: HTMLElement, me: Me, next: (me: Me) => void): Promise<void> {
  let status: TwoFactorStatus;
  try {
    status = await twoFactorStatus(session);
  } catch {
    next(me);
    return;
  }
  if (!status.required || status.enabled) {
    next(me);
    return;
  }
  const logout = h("button", { type: "button", class: "btn ghost" }, t("app.logout"));
  logout.addEventListener("click", () => void session.logout());
  replace(
    root,
    h(
      "main",
      { class: "login-page" },
      h(
        "section",
        { class: "card login", "aria-labelledby": "enrol-title" },
        h("h1", { id: "enrol-title" }, t("twofactor.setUp")),
        h(
          "p",
          {},
          t("twofactor.required", { role: t(`role.${me.role}` as StaffKey) }),
        ),
        enrolmentView(session, () => next(me)),
        logout,
      ),
    ),
  );
}
