import { field, h } from "../shared/dom";
import type { Role, User } from "./api";
import { type Context, isAdmin } from "./context";
import { busy, button, day, load, Message, row, section, table } from "./ui";
import { type StaffKey, t } from "../staff/texts";

export const ROLES = (): [Role, string][] => [
  ["adviser", t("users.adviserAnswersCalls")],
  ["supervisor", t("users.supervisorSeesQueuesRecordings")],
  ["admin", t("users.adminConfiguresEverything")],
  ["dpo", t("users.dataProtectionOfficerRetention")],
];

/** Staff accounts: create, change role, deactivate (admins); supervisors see the list. */
export function usersSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const users = await ctx.api.get<User[]>("/users");
      return table(
        t("users.staff"),
        [t("col.email"), t("queues.name"), t("users.role"), "2FA", t("users.status"), t("users.since"), ""],
        users.map((user) => userRow(ctx, user, message, refresh)),
        t("users.noStaffYet"),
      );
    });
  void refresh();
  return section(
    t("nav.users"),
    isAdmin(ctx) ? t("users.whoCanLogIn") : t("users.whoCanLogIn2"),
    message.el,
    list,
    isAdmin(ctx) ? createForm(ctx, message, refresh) : null,
  );
}

function userRow(ctx: Context, user: User, message: Message, refresh: () => Promise<void>): HTMLTableRowElement {
  const self = user.id === ctx.me.id;
  let role: HTMLElement = h("span", {}, t(`role.${user.role}` as StaffKey));
  if (isAdmin(ctx) && !self) {
    const select = h("select", { "aria-label": t("users.roleOf", { email: user.email }) }, ...ROLES().map(([value]) => h("option", { value }, t(`role.${value}` as StaffKey))));
    select.value = user.role;
    select.addEventListener("change", () => {
      void busy(null, message, async () => {
        try {
          await ctx.api.patch<User>(`/users/${user.id}`, { role: select.value });
          message.ok(t("users.isNow", { email: user.email, value: t(`role.${select.value}` as StaffKey) }));
        } catch (error) {
          select.value = user.role;
          throw error;
        }
        await refresh();
      });
    });
    role = select;
  }
  const toggle =
    isAdmin(ctx) && !self
      ? button(
          user.active ? t("users.deactivate") : t("users.reactivate"),
          () =>
            void busy(null, message, async () => {
              await ctx.api.patch<User>(`/users/${user.id}`, { active: !user.active });
              message.ok(user.active ? t("users.wasDeactivated", { email: user.email }) : t("users.wasReactivated", { email: user.email }));
              await refresh();
            }),
          { "aria-label": `${user.active ? t("users.deactivate") : t("users.reactivate")} ${user.email}` },
        )
      : null;
  const tr = row(
    user.email,
    user.display_name,
    role,
    user.totp_enabled ? t("queues.on") : t("queues.off"),
    h("span", { class: user.active ? "pill ok" : "pill off" }, user.active ? t("users.active") : t("users.deactivated")),
    day(user.created_at),
    self ? h("span", { class: "muted" }, t("users.you")) : toggle,
  );
  tr.dataset["email"] = user.email;
  return tr;
}

function createForm(ctx: Context, message: Message, refresh: () => Promise<void>): HTMLElement {
  const email = h("input", { type: "email", name: "email", autocomplete: "off", required: true });
  const name = h("input", { name: "display_name", autocomplete: "off" });
  const role = h("select", { name: "role" }, ...ROLES().map(([value, label]) => h("option", { value }, label)));
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true });
  const save = h("button", { type: "submit", class: "btn primary" }, t("users.createUser"));
  const form = h(
    "form",
    { class: "editor", "aria-label": t("users.newUser") },
    h("h3", {}, t("users.newUser")),
    h(
      "div",
      { class: "grid2" },
      field(t("login.email"), email),
      field(t("users.displayName"), name, t("users.shownToVisitorsAs")),
      field(t("users.role"), role),
      field(t("users.firstPassword"), password, t("users.atLeast12Characters")),
    ),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      const payload: Record<string, string> = { email: email.value.trim(), role: role.value, password: password.value };
      if (name.value.trim()) payload["display_name"] = name.value.trim();
      const created = await ctx.api.post<User>("/users", payload);
      message.ok(t("users.userCreatedAs", { email: created.email, role: created.role }));
      form.reset();
      await refresh();
    });
  });
  return form;
}

