import { field, h } from "../shared/dom";
import type { Context } from "./context";
import { busy, button, load, Message, row, section, table, when } from "./ui";
import { t } from "../staff/texts";

/** ``GET /consent-texts``: the text each language shows now, and every published version. */
interface ConsentTexts {
  current: { id: string; language: string; text: string; version: number | null; sha256: string }[];
  versions: { id: string; language: string; version: number; text: string; sha256: string; created_by: string; created_at: string }[];
}

/**
 * The organisation's recording-consent wording per language (signaling/consent_texts.py). Saving
 * publishes the next version of that language; nothing is edited in place, so the evidence stored
 * with each call (version and SHA-256) keeps pointing at the words shown.
 */
export function consentSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const language = h("input", { name: "language", required: true, maxlength: 2, placeholder: "nl", autocomplete: "off" });
  const text = h("textarea", { name: "text", required: true, rows: 6, maxlength: 4000 });
  const publish = h("button", { type: "submit", class: "btn primary" }, t("consent.publish"));
  let current: ConsentTexts["current"] = [];

  const pick = (code: string): void => {
    language.value = code;
    text.value = current.find((item) => item.language === code)?.text ?? "";
    text.focus();
  };
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const texts = await ctx.api.get<ConsentTexts>("/consent-texts");
      current = texts.current;
      return h(
        "div",
        {},
        table(
          t("consent.caption"),
          [t("consent.language"), t("consent.version"), t("consent.text"), "SHA-256", ""],
          texts.current.map((item) =>
            row(
              h("span", { translate: "no" }, item.language),
              item.version === null ? t("consent.builtIn") : String(item.version),
              h("span", { class: "consent-text", translate: "no" }, item.text),
              h("code", { title: item.sha256 }, item.sha256.slice(0, 12)),
              button(t("consent.edit", { language: item.language }), () => pick(item.language)),
            ),
          ),
          "",
        ),
        h("h3", {}, t("consent.historyCaption")),
        table(
          t("consent.historyCaption"),
          [t("consent.language"), t("consent.version"), t("consent.published"), t("consent.by"), "SHA-256"],
          texts.versions.map((item) =>
            row(h("span", { translate: "no" }, item.language), String(item.version), when(item.created_at), h("span", { translate: "no" }, item.created_by), h("code", { title: item.sha256 }, item.sha256.slice(0, 12))),
          ),
          t("consent.noVersions"),
        ),
      );
    });

  const form = h(
    "form",
    { class: "editor", "aria-label": t("nav.consentTexts") },
    h("div", { class: "grid2" }, field(t("consent.language"), language, t("consent.languageHelp"))),
    field(t("consent.textLabel"), text),
    h("div", { class: "actions" }, publish),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(publish, message, async () => {
      const published = await ctx.api.post<{ language: string; version: number }>("/consent-texts", {
        language: language.value.trim().toLowerCase(),
        text: text.value,
      });
      message.ok(t("consent.publishedVersion", { language: published.language, version: published.version }));
      await refresh();
    });
  });
  void refresh();
  return section(t("nav.consentTexts"), t("consent.intro"), message.el, list, form);
}
