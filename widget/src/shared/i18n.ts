/**
 * The languages Loket speaks to visitors (the widget and the privacy-request page each keep one
 * catalogue per language), and how a page picks one.
 */

/** In the order they are offered. */
export const LANGUAGES = ["nl", "de", "fr", "en"] as const;
export type Language = (typeof LANGUAGES)[number];

/** The language a BCP 47 tag names by its primary subtag ("de-AT", "de_AT" → "de"), if we speak it. */
export function supportedLanguage(tag: string | null | undefined): Language | null {
  const primary = (tag ?? "").trim().toLowerCase().split(/[-_]/)[0] ?? "";
  return (LANGUAGES as readonly string[]).includes(primary) ? (primary as Language) : null;
}

/** The first of ``candidates`` (most wanted first) that we speak, else English. */
export function pickLanguage(candidates: readonly (string | null | undefined)[]): Language {
  for (const candidate of candidates) {
    const language = supportedLanguage(candidate);
    if (language) return language;
  }
  return "en";
}
