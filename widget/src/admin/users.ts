import { field, h } from "../shared/dom";
import type { Role, User } from "./api";
import { type Context, isAdmin } from "./context";
import { busy, button, day, load, Message, row, section, table } from "./ui";

export const ROLES: [Role, string][] = [
  ["adviser", "Adviser — answers calls"],
  ["supervisor", "Supervisor — sees queues, recordings and statistics"],
  ["admin", "Admin — configures everything"],
  ["dpo", "Data protection officer — retention, recordings, audit log"],
];

/** Staff accounts: create, change role, deactivate (admins); supervisors see the list. */
export function usersSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const users = await ctx.api.get<User[]>("/users");
      return table(
        "Staff",
        ["E-mail", "Name", "Role", "2FA", "Status", "Since", ""],
        users.map((user) => userRow(ctx, user, message, refresh)),
        "No staff yet.",
      );
    });
  void refresh();
  return section(
    "Users and roles",
    isAdmin(ctx) ? "Who can log in, and what each may do. Deactivating logs a person out at once." : "Who can log in (read only for your role).",
    message.el,
    list,
    isAdmin(ctx) ? createForm(ctx, message, refresh) : null,
  );
}

function userRow(ctx: Context, user: User, message: Message, refresh: () => Promise<void>): HTMLTableRowElement {
  const self = user.id === ctx.me.id;
  let role: HTMLElement = h("span", {}, user.role);
  if (isAdmin(ctx) && !self) {
    const select = h("select", { "aria-label": `Role of ${user.email}` }, ...ROLES.map(([value]) => h("option", { value }, value)));
    select.value = user.role;
    select.addEventListener("change", () => {
      void busy(null, message, async () => {
        try {
          await ctx.api.patch<User>(`/users/${user.id}`, { role: select.value });
          message.ok(`${user.email} is now ${select.value}.`);
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
          user.active ? "Deactivate" : "Reactivate",
          () =>
            void busy(null, message, async () => {
              await ctx.api.patch<User>(`/users/${user.id}`, { active: !user.active });
              message.ok(`${user.email} ${user.active ? "deactivated" : "reactivated"}.`);
              await refresh();
            }),
          { "aria-label": `${user.active ? "Deactivate" : "Reactivate"} ${user.email}` },
        )
      : null;
  const tr = row(
    user.email,
    user.display_name,
    role,
    user.totp_enabled ? "On" : "Off",
    h("span", { class: user.active ? "pill ok" : "pill off" }, user.active ? "Active" : "Deactivated"),
    day(user.created_at),
    self ? h("span", { class: "muted" }, "you") : toggle,
  );
  tr.dataset["email"] = user.email;
  return tr;
}

function createForm(ctx: Context, message: Message, refresh: () => Promise<void>): HTMLElement {
  const email = h("input", { type: "email", name: "email", autocomplete: "off", required: true });
  const name = h("input", { name: "display_name", autocomplete: "off" });
  const role = h("select", { name: "role" }, ...ROLES.map(([value, label]) => h("option", { value }, label)));
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true });
  const save = h("button", { type: "submit", class: "btn primary" }, "Create user");
  const form = h(
    "form",
    { class: "editor", "aria-label": "New user" },
    h("h3", {}, "New user"),
    h(
      "div",
      { class: "grid2" },
      field("E-mail address", email),
      field("Display name", name, "Shown to visitors as the adviser's name."),
      field("Role", role),
      field("First password", password, "At least 12 characters. Give it to the person in a safe way."),
    ),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      const payload: Record<string, string> = { email: email.value.trim(), role: role.value, password: password.value };
      if (name.value.trim()) payload["display_name"] = name.value.trim();
      const created = await ctx.api.post<User>("/users", payload);
      message.ok(`User ${created.email} created as ${created.role}.`);
      form.reset();
      await refresh();
    });
  });
  return form;
}

