import { copyText, field, h, replace } from "../shared/dom";
import type { Context } from "./context";
import { busy, button, load, Message, row, section, table, when } from "./ui";

/** ``/api/v1/api-keys``: never the key itself, which is shown once when it is made. */
interface ApiKey {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  last_used_ip: string | null;
  active: boolean;
}

/** API keys: integrations call the REST API with a key limited to the scopes chosen here. */
export function apiKeysSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const shown = h("div", { class: "new-key", hidden: true, role: "status" });
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const keys = await ctx.api.get<ApiKey[]>("/api-keys");
      return table(
        "API keys",
        ["Name", "Key", "Scopes", "Expires", "Last used", "State", ""],
        keys.map((key) => keyRow(ctx, key, message, refresh)),
        "No API keys yet.",
      );
    });
  void refresh();
  return section(
    "API keys",
    "For integrations (a CRM, a dashboard): send the key as “Authorization: Bearer lk_…”. A key can do only what its scopes allow, and never more than the admin who made it.",
    message.el,
    shown,
    list,
    createForm(ctx, message, shown, refresh),
  );
}

function keyRow(ctx: Context, key: ApiKey, message: Message, refresh: () => Promise<void>): HTMLTableRowElement {
  const state = key.revoked_at ? "Revoked" : key.active ? "Active" : "Expired";
  const revoke = key.revoked_at
    ? ""
    : button("Revoke", () => {
        if (!confirm(`Revoke the key “${key.name}”? Integrations using it stop working at once.`)) return;
        void busy(null, message, async () => {
          await ctx.api.delete(`/api-keys/${key.id}`);
          message.ok(`Key “${key.name}” revoked.`);
          await refresh();
        });
      });
  const used = key.last_used_at ? `${when(key.last_used_at)} from ${key.last_used_ip ?? "?"}` : "Never";
  const tableRow = row(key.name, h("code", { class: "mono" }, `${key.hint}…`), key.scopes.join(", "), when(key.expires_at), used, state, revoke);
  tableRow.dataset["key"] = key.id;
  return tableRow;
}

function createForm(ctx: Context, message: Message, shown: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const expires = h("input", { name: "expires", type: "date" });
  const scopes = h("fieldset", { class: "scopes" }, h("legend", {}, "Scopes"));
  void ctx.api.get<{ scopes: string[] }>("/api-key-scopes").then(
    (answer) => {
      for (const scope of answer.scopes) {
        const box = h("input", { type: "checkbox", name: "scope", value: scope, id: `scope-${scope}` });
        scopes.append(h("label", { for: box.id, class: "scope" }, box, ` ${scope}`));
      }
    },
    (error: unknown) => message.error(error),
  );
  const save = h("button", { type: "submit", class: "btn primary" }, "Create API key");
  const form = h(
    "form",
    { class: "editor", "aria-label": "New API key" },
    h("h3", {}, "New API key"),
    field("Name", name, "Who uses it, like “CRM sync”."),
    scopes,
    field("Expires on (optional)", expires),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = [...scopes.querySelectorAll<HTMLInputElement>("input[name=scope]:checked")].map((box) => box.value);
    const body: Record<string, unknown> = { name: name.value.trim(), scopes: chosen };
    if (expires.value) body["expires_at"] = new Date(`${expires.value}T23:59:59`).toISOString();
    void busy(save, message, async () => {
      const created = await ctx.api.post<ApiKey & { key: string }>("/api-keys", body);
      const copy = button("Copy key", () => {
        void copyText(created.key).then((ok) => {
          copy.textContent = ok ? "Copied" : "Select and copy it by hand";
        });
      });
      replace(
        shown,
        h("p", {}, h("strong", {}, `Key “${created.name}” created. `), "Copy it now: it is not shown again."),
        h("pre", {}, h("code", { class: "mono", "data-part": "new-api-key" }, created.key)),
        copy,
      );
      shown.hidden = false;
      form.reset();
      await refresh();
    });
  });
  return form;
}
