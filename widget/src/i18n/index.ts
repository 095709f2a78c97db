import type { Catalogue } from "./catalogue";
import { de } from "./de";
import { en } from "./en";
import { fr } from "./fr";
import { nl } from "./nl";

export type { Catalogue } from "./catalogue";

export const LANGUAGES = ["nl", "de", "fr", "en"] as const;
export type Language = (typeof LANGUAGES)[number];

const CATALOGUES: Record<Language, Catalogue> = { nl, de, fr, en };

/** Each language's name in that language, as a visitor looks for it in a list. */
export const LANGUAGE_NAMES: Record<string, string> = {
  nl: "Nederlands",
  de: "Deutsch",
  fr: "Français",
  en: "English",
};

function supported(tag: string | null | undefined): Language | null {
  const primary = (tag ?? "").trim().toLowerCase().split(/[-_]/)[0] ?? "";
  return (LANGUAGES as readonly string[]).includes(primary) ? (primary as Language) : null;
}

/** ``data-lang`` on the script, else the page's ``<html lang>``, else the browser's languages. */
export function pickLanguage(dataLang: string | null): Language {
  const candidates = [dataLang, document.documentElement.lang, ...(navigator.languages ?? []), navigator.language];
  for (const candidate of candidates) {
    const language = supported(candidate);
    if (language) return language;
  }
  return "en";
}

export function catalogue(language: Language): Catalogue {
  return CATALOGUES[language];
}

/** "on Monday 12 May at 09:00" style, in the visitor's language and time zone. */
export function formatOpening(iso: string, language: Language): string {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  // British English: day before month and a 24-hour clock, as the rest of Europe reads it.
  return new Intl.DateTimeFormat(language === "en" ? "en-GB" : language, {
    weekday: "long",
    day: "numeric",
    month: "long",
    hour: "2-digit",
    minute: "2-digit",
  }).format(when);
}
