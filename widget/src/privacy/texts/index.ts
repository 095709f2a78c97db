import { type Language, pickLanguage } from "../../shared/i18n";
import type { PrivacyTexts } from "./catalogue";
import { de } from "./de";
import { en } from "./en";
import { fr } from "./fr";
import { nl } from "./nl";

export type { PrivacyTexts } from "./catalogue";

export const CATALOGUES: Record<Language, PrivacyTexts> = { nl, de, fr, en };

/** ``?lang=`` first, then the browser's languages in order, then English. */
export function pickTexts(search: URLSearchParams, preferred: readonly string[]): PrivacyTexts {
  return CATALOGUES[pickLanguage([search.get("lang"), ...preferred])];
}
