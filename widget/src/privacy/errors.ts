import type { PrivacyApiError } from "./api";
import type { PrivacyTexts } from "./texts";

/** What to tell the visitor about a refused call: our words for the common cases, the server's otherwise. */
export function describeError(t: PrivacyTexts, error: PrivacyApiError): string {
  if (error.status === 0) return t.unreachable;
  if (error.status === 429) return t.rateLimited;
  if (error.status === 404) return t.unknownRequest;
  if (error.status === 410) return t.expired;
  return `${t.somethingWrong} ${error.message}`;
}
