/**
 * The language menu both consoles show in their header: the user's own setting, stored on the
 * server (``PATCH /api/v1/auth/me``), so it follows them to any browser. "As the browser" clears it.
 * A change reloads the page: every view is built once in the page's language.
 */
import { h } from "../shared/dom";
import type { Me, StaffSession } from "./session";
import { errorText, LANGUAGE_NAMES, LANGUAGES, staffLanguage, t } from "./texts";
import { ApiError } from "./errors";

export function languageMenu(session: StaffSession, me: Me, problem: (text: string) => void): HTMLElement {
  const select = h("select", { id: "staff-language", "data-part": "language" });
  const browser = h("option", { value: "" }, t("app.languageBrowser", { language: LANGUAGE_NAMES[staffLanguage()] }));
  select.append(browser, ...LANGUAGES.map((code) => h("option", { value: code, lang: code }, LANGUAGE_NAMES[code])));
  select.value = me.ui_language ?? "";
  select.addEventListener("change", () => {
    select.disabled = true;
    session
      .fetch<Me>("/api/v1/auth/me", { method: "PATCH", body: JSON.stringify({ ui_language: select.value || null }) })
      .then(
        () => location.reload(),
        (error: unknown) => {
          select.disabled = false;
          select.value = me.ui_language ?? "";
          problem(error instanceof ApiError ? errorText(error.code, error.message) : String(error));
        },
      );
  });
  return h("label", { class: "language-menu" }, h("span", {}, t("app.language")), select);
}
