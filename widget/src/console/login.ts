import { ApiError, type Me, type StaffSession } from "../staff";
import { h } from "../shared/dom";
import { errorText, t } from "../staff/texts";

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
      h("label", { for: "login-totp" }, t("login.totpLabel")),
      this.totp,
      h("p", { id: "login-totp-help", class: "help" }, t("login.totpHelp")),
    );
    this.problem = h("p", { class: "problem", role: "alert", hidden: !notice }, notice);
    this.submit = h("button", { type: "submit", class: "btn primary wide" }, t("login.submit"));
    const form = h(
      "form",
      { class: "card login", "aria-labelledby": "login-title", novalidate: false },
      h("h1", { id: "login-title" }, "Loket"),
      h("p", { class: "muted" }, t("login.adviserConsole")),
      h("div", { class: "field" }, h("label", { for: "login-email" }, t("login.email")), this.email),
      h("div", { class: "field" }, h("label", { for: "login-password" }, t("login.password")), this.password),
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
    this.submit.textContent = t("login.busy");
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
      this.problem.textContent = errorText(code, error instanceof ApiError ? error.message : t("login.failed"));
      this.problem.hidden = false;
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = t("login.submit");
    }
  }
}
