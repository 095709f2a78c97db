import { h } from "../shared/dom";
import { ApiError } from "../staff/errors";
import type { Me, StaffSession } from "../staff/session";
import { errorText, t } from "../staff/texts";

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
    h("label", { for: "login-totp" }, t("login.totpLabel")),
    totp,
    h("p", { id: "login-totp-help", class: "help" }, t("login.totpHelp")),
  );
  const problem = h("p", { class: "message error", role: "alert", hidden: !notice }, notice);
  const submit = h("button", { type: "submit", class: "btn primary wide" }, t("login.submit"));
  const form = h(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Loket"),
    h("p", { class: "muted" }, t("login.administration")),
    h("div", { class: "field" }, h("label", { for: "login-email" }, t("login.email")), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, t("login.password")), password),
    totpRow,
    problem,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = t("login.busy");
    session.login(email.value.trim(), password.value, totp.value.trim() || undefined).then(done, (error: unknown) => {
      const code = error instanceof ApiError ? error.code : "unreachable";
      if (code === "totp_required" || code === "invalid_totp") {
        totpRow.hidden = false;
        totp.value = "";
        totp.focus();
      }
      problem.textContent = errorText(code, error instanceof ApiError ? error.message : t("login.failed"));
      problem.hidden = false;
      submit.disabled = false;
      submit.textContent = t("login.submit");
    });
  });
  queueMicrotask(() => email.focus());
  return h("main", { class: "login-page" }, form);
}
