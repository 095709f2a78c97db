/**
 * The staff consoles' texts (adviser console, admin console, login and two-factor pages): one
 * catalogue per language, keyed by "area.name" (en.ts is the source of the keys; nl.ts, de.ts and
 * fr.ts must have exactly the same, which the compiler and tests/e2e/test_staff_catalogues.py check).
 *
 * The language is chosen once per page load (``useStaffLanguage``): the user's setting
 * (``ui_language`` from /auth/me), else the browser's languages, else English. Changing the setting
 * reloads the page, so no view has to re-render itself.
 *
 * ``?i18n=debug`` on a console's address is for tests: a key missing from the catalogue shows as
 * ``⟦key⟧`` instead of falling back to English, and every text handed out is noted in
 * ``window.__loketTexts`` so that a test can find text on screen that did not come from here.
 */
import { type Language, LANGUAGES, pickLanguage } from "../../shared/i18n";
import { de } from "./de";
import { en, type StaffKey } from "./en";
import { fr } from "./fr";
import { nl } from "./nl";

export type { StaffKey } from "./en";
export type StaffTexts = Record<StaffKey, string>;

export const STAFF_CATALOGUES: Record<Language, StaffTexts> = { nl, de, fr, en };

/** Each language's name in that language, as it is looked for in a menu. */
export const LANGUAGE_NAMES: Record<Language, string> = { nl: "Nederlands", de: "Deutsch", fr: "Français", en: "English" };

type Vars = Record<string, string | number>;

interface TextsState {
  language: Language;
  texts: StaffTexts;
  debug: boolean;
  seen: Set<string> | null;
}

declare global {
  interface Window {
    __loketTexts?: Set<string>;
  }
}

const state: TextsState = { language: "en", texts: en, debug: false, seen: null };

/** The page's language: ``?lang=`` (for links and tests), the user's setting, the browser's, English. */
export function useStaffLanguage(setting: string | null | undefined): Language {
  const search = new URLSearchParams(location.search);
  const language = pickLanguage([search.get("lang"), setting, ...(navigator.languages ?? []), navigator.language]);
  state.language = language;
  state.texts = STAFF_CATALOGUES[language];
  state.debug = search.get("i18n") === "debug";
  if (state.debug) state.seen = window.__loketTexts ??= new Set();
  document.documentElement.lang = language;
  return language;
}

export function staffLanguage(): Language {
  return state.language;
}

/** The text for ``key`` in the page's language, with ``{name}`` placeholders filled from ``vars``. */
export function t(key: StaffKey, vars?: Vars): string {
  const template = (state.texts as Partial<StaffTexts>)[key] ?? (state.debug ? `⟦${key}⟧` : (en[key] ?? key));
  const text = vars ? template.replace(/\{(\w+)\}/g, (whole, name: string) => String(vars[name] ?? whole)) : template;
  state.seen?.add(text);
  return text;
}

/**
 * What went wrong, for an error code of the REST API or the socket: our own text for the codes
 * the catalogue knows ("error.<code>"), else the server's (English) message, else a generic one.
 */
export function errorText(code: string, message?: string): string {
  const key = `error.${code}`;
  if (key in state.texts) return t(key as StaffKey);
  return message || t("error.unknown", { code });
}

/** A date and time as staff in this language read it (day before month, 24-hour clock). */
export function formatDateTime(value: string | Date, options: Intl.DateTimeFormatOptions = { dateStyle: "medium", timeStyle: "short" }): string {
  const when = typeof value === "string" ? new Date(value) : value;
  if (Number.isNaN(when.getTime())) return String(value);
  return new Intl.DateTimeFormat(state.language === "en" ? "en-GB" : state.language, options).format(when);
}

export { LANGUAGES };
