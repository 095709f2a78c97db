import { h, replace } from "../shared/dom";
import { enrolmentView, twoFactorStatus, type TwoFactorStatus } from "../staff/twofactor";
import type { StaffSession } from "../staff/session";
import type { User } from "./api";
import { type Context, isAdmin } from "./context";
import { busy, button, load, Message, row, section, table } from "./ui";

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
    "Two-factor authentication",
    "A code from an authenticator app on your phone, asked at every login. Admins and DPOs must use it.",
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
      h("p", { "data-part": "two-factor-state" }, status.required ? "Not set up yet — your role must use it." : "Not set up."),
      enrolmentView(session, () => {
        message.ok("Two-factor authentication is on.");
        void refresh();
      }),
    );
  }
  const code = h("input", { id: "new-codes-code", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: 6, autocomplete: "one-time-code" });
  const codes = h("div", {});
  const renew = button("New recovery codes", () => {
    void busy(renew, message, async () => {
      const answer = await ctx.api.post<{ recovery_codes: string[] }>("/auth/two-factor/recovery-codes", { code: code.value.trim() });
      code.value = "";
      replace(
        codes,
        h("p", {}, "Your new recovery codes (the old ones no longer work). Store them now: they are not shown again."),
        h("ol", { class: "recovery-codes mono", "data-part": "recovery-codes" }, ...answer.recovery_codes.map((text) => h("li", {}, text))),
      );
    });
  });
  return h(
    "div",
    {},
    h("p", { "data-part": "two-factor-state" }, `On. ${status.recovery_codes_left} of 10 recovery codes left.`),
    h("div", { class: "field" }, h("label", { for: "new-codes-code" }, "Current authenticator code"), code),
    h("div", { class: "actions" }, renew),
    codes,
  );
}

function policyPart(ctx: Context, message: Message): HTMLElement {
  const box = h("input", { type: "checkbox", id: "two-factor-all-roles" });
  const region = h(
    "div",
    { class: "field" },
    h("label", { for: "two-factor-all-roles" }, box, " Require two-factor authentication of every role (advisers and supervisors too)"),
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
      message.ok(policy.all_roles ? "Every role now needs two-factor authentication." : "Only admins and DPOs need two-factor authentication.");
    });
  });
  return h("div", { class: "editor" }, h("h3", {}, "Organisation"), region);
}

function staffPart(ctx: Context, message: Message): HTMLElement {
  const list = h("div", {});
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const users = await ctx.api.get<User[]>("/users");
      const rows = users.map((user) =>
        row(
          user.display_name || user.email,
          user.role,
          user.totp_enabled ? "On" : "Off",
          user.id === ctx.me.id
            ? ""
            : button("Reset", () => {
                if (!confirm(`Reset two-factor authentication of ${user.email}? They can log in once without it, to set it up again.`)) return;
                void busy(null, message, async () => {
                  await ctx.api.delete(`/users/${user.id}/two-factor`);
                  message.ok(`Two-factor authentication of ${user.email} was reset.`);
                  await refresh();
                });
              }),
        ),
      );
      return table("Staff and their two-factor authentication", ["Name", "Role", "Two-factor", ""], rows, "No staff.");
    });
  void refresh();
  return h("div", { class: "editor" }, h("h3", {}, "Staff"), list);
}
