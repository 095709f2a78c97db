/** The anonymous privacy-request API (``/api/v1/privacy/requests``), as the page uses it. */

export type RequestKind = "erase" | "export";
export type RequestState = "received" | "processing" | "done" | "not_found" | "failed";

export interface CreatedRequest {
  request_id: string;
  secret: string;
  kind: RequestKind;
  status: RequestState;
}

export interface RequestStatus {
  request_id: string;
  kind: RequestKind;
  status: RequestState;
  created_at: string;
  completed_at: string | null;
  export: { expires_at: string; bytes: number } | null;
}

/** A refused or failed call: ``status`` 0 when the server could not be reached at all. */
export class PrivacyApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message || code);
    this.name = "PrivacyApiError";
  }
}

const BASE = "/api/v1/privacy/requests";
const SECRET_HEADER = "X-Loket-Request-Secret";

async function send(path: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    // No cookies, no cache: the answer is about one person's request.
    response = await fetch(path, { ...init, credentials: "omit", cache: "no-store" });
  } catch {
    throw new PrivacyApiError(0, "unreachable", "");
  }
  if (!response.ok) {
    const body: unknown = await response.json().catch(() => null);
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new PrivacyApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? "");
  }
  return response;
}

export async function createRequest(privacyKey: string, kind: RequestKind): Promise<CreatedRequest> {
  const response = await send(BASE, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ privacy_key: privacyKey, kind }),
  });
  return (await response.json()) as CreatedRequest;
}

function path(requestId: string, suffix = ""): string {
  return `${BASE}/${encodeURIComponent(requestId)}${suffix}`;
}

export async function requestStatus(requestId: string, secret: string): Promise<RequestStatus> {
  const response = await send(path(requestId), { headers: { [SECRET_HEADER]: secret } });
  return (await response.json()) as RequestStatus;
}

/** The export archive (a ZIP) as a Blob; 410 once it has expired. */
export async function downloadExport(requestId: string, secret: string): Promise<Blob> {
  const response = await send(path(requestId, "/export"), { headers: { [SECRET_HEADER]: secret } });
  return response.blob();
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// Base32 has no 0, 1 or 8: typed for O, I and B.
const CONFUSABLE: Record<string, string> = { "0": "O", "1": "I", "8": "B" };

/** A privacy key as the server issues it (``PK-XXXX-…``, 32 base32 symbols in groups of four),
 * or null if it cannot be one. The ``PK`` prefix, case, spaces and dashes do not matter. */
export function normalisePrivacyKey(text: string): string | null {
  let symbols = text.toUpperCase().replace(/[\s-]/g, "");
  if (symbols.startsWith("PK") && symbols.length === 34) symbols = symbols.slice(2);
  symbols = [...symbols].map((c) => CONFUSABLE[c] ?? c).join("");
  if (symbols.length !== 32 || [...symbols].some((c) => !ALPHABET.includes(c))) return null;
  return `PK-${symbols.match(/.{4}/g)!.join("-")}`;
}
