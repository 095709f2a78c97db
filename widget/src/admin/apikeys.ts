import { copyText, field, h, replace } from "../shared/dom";
import type { Context } from "./context";
import { busy, button, load, Message, row, section, table, when } from "./ui";
import { t } from "../staff/texts";

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
        t("nav.apiKeys"),
        [t("queues.name"), t("apikeys.key"), t("apikeys.scopes"), t("apikeys.expires"), t("apikeys.lastUsed"), t("apikeys.state"), ""],
        keys.map((key) => keyRow(ctx, key, message, refresh)),
        t("apikeys.noApiKeysYet"),
      );
    });
  void refresh();
  return section(
    t("nav.apiKeys"),
    t("apikeys.forIntegrationsACrm"),
    message.el,
    shown,
    list,
    createForm(ctx, message, shown, refresh),
  );
}

function keyRow(ctx: Context, key: ApiKey, message: Message, refresh: () => Promise<void>): HTMLTableRowElement {
  const state = key.revoked_at ? t("apikeys.revoked") : key.active ? t("users.active") : t("apikeys.expired");
  const revoke = key.revoked_at
    ? ""
    : button(t("apikeys.revoke"), () => {
        if (!confirm(t("apikeys.revokeTheKeyIntegrations", { name: key.name }))) return;
        void busy(null, message, async () => {
          await ctx.api.delete(`/api-keys/${key.id}`);
          message.ok(t("apikeys.keyRevoked", { name: key.name }));
          await refresh();
        });
      });
  const used = key.last_used_at ? t("apikeys.usedFrom", { when: when(key.last_used_at), ip: key.last_used_ip ?? "?" }) : t("apikeys.never");
  const tableRow = row(key.name, h("code", { class: "mono" }, `${key.hint}…`), h("span", { translate: "no" }, key.scopes.join(", ")), when(key.expires_at), used, state, revoke);
  tableRow.dataset["key"] = key.id;
  return tableRow;
}

function createForm(ctx: Context, message: Message, shown: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const expires = h("input", { name: "expires", type: "date" });
  const scopes = h("fieldset", { class: "scopes" }, h("legend", {}, t("apikeys.scopes")));
  void ctx.api.get<{ scopes: string[] }>("/api-key-scopes").then(
    (answer) => {
      for (const scope of answer.scopes) {
        const box = h("input", { type: "checkbox", name: "scope", value: scope, id: `scope-${scope}` });
        scopes.append(h("label", { for: box.id, class: "scope", translate: "no" }, box, ` ${scope}`));
      }
    },
    (error: unknown) => message.error(error),
  );
  const save = h("button", { type: "submit", class: "btn primary" }, t("apikeys.createApiKey"));
  const form = h(
    "form",
    { class: "editor", "aria-label": t("apikeys.newApiKey") },
    h("h3", {}, t("apikeys.newApiKey")),
    field(t("queues.name"), name, t("apikeys.whoUsesItLike")),
    scopes,
    field(t("apikeys.expiresOnOptional"), expires),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = [...scopes.querySelectorAll<HTMLInputElement>("input[name=scope]:checked")].map((box) => box.value);
    const body: Record<string, unknown> = { name: name.value.trim(), scopes: chosen };
    if (expires.value) body["expires_at"] = new Date(`${expires.value}T23:59:59`).toISOString();
    void busy(save, message, async () => {
      const created = await ctx.api.post<ApiKey & { key: string }>("/api-keys", body);
      const copy = button(t("apikeys.copyKey"), () => {
        void copyText(created.key).then((ok) => {
          copy.textContent = ok ? t("apikeys.copied") : t("apikeys.selectAndCopyIt");
        });
      });
      replace(
        shown,
        h("p", {}, h("strong", {}, t("apikeys.keyCreated", { name: created.name })), t("apikeys.copyItNowIt")),
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
