import { ApiError, type Me, type StaffSession } from "../staff";
import { h } from "../shared/dom";

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

/** The login form: e-mail, password, and the authenticator code once the server asks for it. */
export class LoginView {
  readonly el: HTMLElement;
  private readonly email: HTMLInputElement;
  private readonly password: HTMLInputElement;
  private readonly totp: HTMLInputElement;
  private readonly totpRow: HTMLElement;
  private readonly problem: HTMLParagraphElement;
  private readonly submit: HTMLButtonElement;

  constructor(
    private readonly session: StaffSession,
    private readonly done: (me: Me) => void,
    notice = "",
  ) {
    this.email = h("input", { id: "login-email", type: "email", name: "email", autocomplete: "username", required: true });
    this.password = h("input", {
      id: "login-password",
      type: "password",
      name: "password",
      autocomplete: "current-password",
      required: true,
    });
    this.totp = h("input", {
      id: "login-totp",
      name: "totp",
      inputmode: "numeric",
      pattern: "[0-9]{6}|[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}",
      maxlength: 11,
      autocomplete: "one-time-code",
      "aria-describedby": "login-totp-help",
    });
    this.totpRow = h(
      "div",
      { class: "field", hidden: true },
      h("label", { for: "login-totp" }, "Authenticator code"),
      this.totp,
      h("p", { id: "login-totp-help", class: "help" }, "Six digits from your authenticator app, or one of your recovery codes."),
    );
    this.problem = h("p", { class: "problem", role: "alert", hidden: !notice }, notice);
    this.submit = h("button", { type: "submit", class: "btn primary wide" }, "Log in");
    const form = h(
      "form",
      { class: "card login", "aria-labelledby": "login-title", novalidate: false },
      h("h1", { id: "login-title" }, "Loket"),
      h("p", { class: "muted" }, "Adviser console"),
      h("div", { class: "field" }, h("label", { for: "login-email" }, "E-mail address"), this.email),
      h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), this.password),
      this.totpRow,
      this.problem,
      this.submit,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.login();
    });
    this.el = h("main", { class: "login-page" }, form);
  }

  focus(): void {
    this.email.focus();
  }

  private async login(): Promise<void> {
    this.submit.disabled = true;
    this.submit.textContent = "Logging in…";
    try {
      const totp = this.totp.value.trim();
      const me = await this.session.login(this.email.value.trim(), this.password.value, totp || undefined);
      this.done(me);
    } catch (error) {
      const code = error instanceof ApiError ? error.code : "unreachable";
      if (code === "totp_required" || code === "invalid_totp") {
        this.totpRow.hidden = false;
        this.totp.value = "";
        this.totp.focus();
      }
      this.problem.textContent =
        MESSAGES[code] ?? (error instanceof ApiError && error.message ? error.message : "Logging in failed.");
      this.problem.hidden = false;
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = "Log in";
    }
  }
}
