import type { PrivacyTexts } from "./catalogue";
import { de } from "./de";
import { en } from "./en";
import { fr } from "./fr";
import { nl } from "./nl";

export type { PrivacyTexts } from "./catalogue";

export const CATALOGUES: Record<string, PrivacyTexts> = { nl, de, fr, en };

/** ``?lang=`` first, then the browser's languages in order, then English. */
export function pickLanguage(search: URLSearchParams, preferred: readonly string[]): PrivacyTexts {
  const asked = search.get("lang")?.toLowerCase().slice(0, 2);
  if (asked && CATALOGUES[asked]) return CATALOGUES[asked];
  for (const language of preferred) {
    const found = CATALOGUES[language.toLowerCase().slice(0, 2)];
    if (found) return found;
  }
  return en;
}
