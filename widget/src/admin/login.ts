import { h } from "../shared/dom";
import { ApiError } from "../staff/errors";
import type { Me, StaffSession } from "../staff/session";

const MESSAGES: Record<string, string> = {
  invalid_credentials: "Wrong e-mail address or password.",
  totp_required: "Enter the 6-digit code from your authenticator app.",
  invalid_totp: "That authenticator code is not right. Try the current one.",
  rate_limited: "Too many attempts. Wait a few minutes and try again.",
  ip_not_allowed: "Logins from this network are not allowed for your account.",
  account_disabled: "Your account is disabled. Ask an administrator.",
  totp_enrolment_required:
    "Your role must use two-factor authentication, and your one login to set it up was used. Ask an administrator to reset it.",
  totp_secret_unusable: "Your two-factor set-up cannot be used. Ask an administrator to reset it.",
  unreachable: "Loket cannot be reached. Check your connection.",
};

/** E-mail and password, then the authenticator code when the server asks for it. */
export function loginView(session: StaffSession, done: (me: Me) => void, notice = ""): HTMLElement {
  const email = h("input", { id: "login-email", type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", type: "password", name: "password", autocomplete: "current-password", required: true });
  const totp = h("input", {
    id: "login-totp",
    name: "totp",
    inputmode: "numeric",
    pattern: "[0-9]{6}|[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}",
    maxlength: 11,
    autocomplete: "one-time-code",
    "aria-describedby": "login-totp-help",
  });
  const totpRow = h(
    "div",
    { class: "field", hidden: true },
    h("label", { for: "login-totp" }, "Authenticator code"),
    totp,
    h("p", { id: "login-totp-help", class: "help" }, "Six digits from your authenticator app, or one of your recovery codes."),
  );
  const problem = h("p", { class: "message error", role: "alert", hidden: !notice }, notice);
  const submit = h("button", { type: "submit", class: "btn primary wide" }, "Log in");
  const form = h(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Loket"),
    h("p", { class: "muted" }, "Administration"),
    h("div", { class: "field" }, h("label", { for: "login-email" }, "E-mail address"), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), password),
    totpRow,
    problem,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = "Logging in…";
    session.login(email.value.trim(), password.value, totp.value.trim() || undefined).then(done, (error: unknown) => {
      const code = error instanceof ApiError ? error.code : "unreachable";
      if (code === "totp_required" || code === "invalid_totp") {
        totpRow.hidden = false;
        totp.value = "";
        totp.focus();
      }
      problem.textContent = MESSAGES[code] ?? (error instanceof ApiError && error.message ? error.message : "Logging in failed.");
      problem.hidden = false;
      submit.disabled = false;
      submit.textContent = "Log in";
    });
  });
  queueMicrotask(() => email.focus());
  return h("main", { class: "login-page" }, form);
}
