import { type Language, pickLanguage } from "../../shared/i18n";
import type { Catalogue } from "./catalogue";
import { de } from "./de";
import { en } from "./en";
import { fr } from "./fr";
import { nl } from "./nl";

export type { Catalogue } from "./catalogue";

const CATALOGUES: Record<Language, Catalogue> = { nl, de, fr, en };

/** Each language's name in that language, as a visitor looks for it in a list. */
export const LANGUAGE_NAMES: Record<string, string> = {
  nl: "Nederlands",
  de: "Deutsch",
  fr: "Français",
  en: "English",
};

/** ``data-lang`` on the script, else the page's ``<html lang>``, else the browser's languages. */
export function widgetLanguage(dataLang: string | null): Language {
  return pickLanguage([dataLang, document.documentElement.lang, ...(navigator.languages ?? []), navigator.language]);
}

export function catalogue(language: Language): Catalogue {
  return CATALOGUES[language];
}

/**
 * "on Monday 12 May at 09:00" style, in the visitor's language and the queue's time zone: the
 * hours are the queue's, so a visitor abroad reads them as the queue keeps them, with the zone
 * named ("09:00 CET") when it is not the browser's. A zone the browser does not know: the
 * browser's own, as before.
 */
export function formatOpening(iso: string, language: Language, timeZone?: string): string {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  // British English: day before month and a 24-hour clock, as the rest of Europe reads it.
  const locale = language === "en" ? "en-GB" : language;
  const options: Intl.DateTimeFormatOptions = {
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "2-digit",
    minute: "2-digit",
  };
  if (timeZone) {
    try {
      const own = new Intl.DateTimeFormat().resolvedOptions().timeZone;
      const zoned = { ...options, timeZone, ...(timeZone === own ? {} : { timeZoneName: "short" as const }) };
      return new Intl.DateTimeFormat(locale, zoned).format(when);
    } catch {
      // RangeError: a zone this browser does not know.
    }
  }
  return new Intl.DateTimeFormat(locale, options).format(when);
}
