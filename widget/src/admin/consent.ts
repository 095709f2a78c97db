import { field, h } from "../shared/dom";
import type { Context } from "./context";
import { QUEUE_CONSENT_TEXTS } from "./queue_consent_texts";
import { busy, button, load, Message, row, section, table, when } from "./ui";

const T = QUEUE_CONSENT_TEXTS.consent;

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
  const publish = h("button", { type: "submit", class: "btn primary" }, T.publish);
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
          T.caption,
          [...T.headings, ""],
          texts.current.map((item) =>
            row(
              item.language,
              item.version === null ? T.builtIn : String(item.version),
              h("span", { class: "consent-text" }, item.text),
              h("code", { title: item.sha256 }, item.sha256.slice(0, 12)),
              button(T.edit(item.language), () => pick(item.language)),
            ),
          ),
          "",
        ),
        h("h3", {}, T.historyCaption),
        table(
          T.historyCaption,
          T.historyHeadings,
          texts.versions.map((item) =>
            row(item.language, String(item.version), when(item.created_at), item.created_by, h("code", { title: item.sha256 }, item.sha256.slice(0, 12))),
          ),
          T.noVersions,
        ),
      );
    });

  const form = h(
    "form",
    { class: "editor", "aria-label": T.title },
    h("div", { class: "grid2" }, field(T.languageLabel, language, T.languageHelp)),
    field(T.textLabel, text),
    h("div", { class: "actions" }, publish),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(publish, message, async () => {
      const published = await ctx.api.post<{ language: string; version: number }>("/consent-texts", {
        language: language.value.trim().toLowerCase(),
        text: text.value,
      });
      message.ok(T.published(published.language, published.version));
      await refresh();
    });
  });
  void refresh();
  return section(T.title, T.intro, message.el, list, form);
}
