import { h, replace } from "../shared/dom";
import { enrolmentView, twoFactorStatus, type TwoFactorStatus } from "../staff/twofactor";
import type { StaffSession } from "../staff/session";
import type { User } from "./api";
import { type Context, isAdmin } from "./context";
import { busy, button, load, Message, row, section, table } from "./ui";
import { type StaffKey, t } from "../staff/texts";

/**
 * Two-factor authentication: one's own (set it up, new recovery codes) and, for admins, the
 * organisation's rule and a reset for staff who lost their phone.
 */
export function securitySection(ctx: Context, session: StaffSession): HTMLElement {
  const message = new Message();
  const own = h("div", { class: "two-factor-own" });
  const refresh = (): Promise<void> => load(own, message, async () => ownPart(ctx, session, await twoFactorStatus(session), message, refresh));
  void refresh();
  return section(
    t("nav.twoFactor"),
    t("security.intro"),
    message.el,
    own,
    isAdmin(ctx) ? policyPart(ctx, message) : null,
    isAdmin(ctx) ? staffPart(ctx, message) : null,
  );
}

function ownPart(ctx: Context, session: StaffSession, status: TwoFactorStatus, message: Message, refresh: () => Promise<void>): HTMLElement {
  if (!status.enabled) {
    return h(
      "div",
      {},
      h("p", { "data-part": "two-factor-state" }, status.required ? t("security.notSetUpYet") : t("security.notSetUp")),
      enrolmentView(session, () => {
        message.ok(t("twofactor.on"));
        void refresh();
      }),
    );
  }
  const code = h("input", { id: "new-codes-code", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: 6, autocomplete: "one-time-code" });
  const codes = h("div", {});
  const renew = button(t("security.newRecoveryCodes"), () => {
    void busy(renew, message, async () => {
      const answer = await ctx.api.post<{ recovery_codes: string[] }>("/auth/two-factor/recovery-codes", { code: code.value.trim() });
      code.value = "";
      replace(
        codes,
        h("p", {}, t("security.yourNewRecoveryCodes")),
        h("ol", { class: "recovery-codes mono", "data-part": "recovery-codes" }, ...answer.recovery_codes.map((text) => h("li", {}, text))),
      );
    });
  });
  return h(
    "div",
    {},
    h("p", { "data-part": "two-factor-state" }, t("security.onOf10Recovery", { recovery_codes_left: status.recovery_codes_left })),
    h("div", { class: "field" }, h("label", { for: "new-codes-code" }, t("security.currentAuthenticatorCode")), code),
    h("div", { class: "actions" }, renew),
    codes,
  );
}

function policyPart(ctx: Context, message: Message): HTMLElement {
  const box = h("input", { type: "checkbox", id: "two-factor-all-roles" });
  const region = h(
    "div",
    { class: "field" },
    h("label", { for: "two-factor-all-roles" }, box, " ", t("security.requireAll")),
  );
  void ctx.api.get<{ all_roles: boolean }>("/organisation/two-factor").then(
    (policy) => {
      box.checked = policy.all_roles;
    },
    (error: unknown) => message.error(error),
  );
  box.addEventListener("change", () => {
    void busy(null, message, async () => {
      const policy = await ctx.api.patch<{ all_roles: boolean }>("/organisation/two-factor", { all_roles: box.checked });
      box.checked = policy.all_roles;
      message.ok(policy.all_roles ? t("security.everyRoleNowNeeds") : t("security.onlyAdminsAndDpos"));
    });
  });
  return h("div", { class: "editor" }, h("h3", {}, t("security.organisation")), region);
}

function staffPart(ctx: Context, message: Message): HTMLElement {
  const list = h("div", {});
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const users = await ctx.api.get<User[]>("/users");
      const rows = users.map((user) =>
        row(
          user.display_name || user.email,
          t(`role.${user.role}` as StaffKey),
          user.totp_enabled ? t("queues.on") : t("queues.off"),
          user.id === ctx.me.id
            ? ""
            : button(t("security.reset"), () => {
                if (!confirm(t("security.resetTwoFactorAuthentication", { email: user.email }))) return;
                void busy(null, message, async () => {
                  await ctx.api.delete(`/users/${user.id}/two-factor`);
                  message.ok(t("security.twoFactorAuthenticationOf", { email: user.email }));
                  await refresh();
                });
              }),
        ),
      );
      return table(t("security.staffAndTheirTwo"), [t("queues.name"), t("users.role"), t("security.twoFactor"), ""], rows, t("security.noStaff"));
    });
  void refresh();
  return h("div", { class: "editor" }, h("h3", {}, t("users.staff")), list);
}
