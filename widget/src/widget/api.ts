import type { WidgetSession } from "../shared/wire";

/** A failed REST call: ``status`` 0 when Loket could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Trade the page's public widget key for an anonymous visitor session (the Origin is checked),
 * with the page's ``context`` for the adviser. A context the server refuses (a key not allowed
 * on this widget key, a value too long or looking like an e-mail address or phone number) is the
 * page's mistake: it is reported on the console and the visitor gets a session without it.
 */
export async function createSession(base: string, key: string, context: Record<string, string> = {}): Promise<WidgetSession> {
  try {
    return await requestSession(base, { widget_key: key, ...(Object.keys(context).length ? { context } : {}) });
  } catch (error) {
    if (!(error instanceof ApiError && error.code.startsWith("context_"))) throw error;
    console.warn(`Loket: the page's context was refused (${error.code}: ${error.message}); calling without it`);
    return requestSession(base, { widget_key: key });
  }
}

async function requestSession(base: string, payload: object): Promise<WidgetSession> {
  let response: Response;
  try {
    response = await fetch(`${base}/api/v1/widget/sessions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
      credentials: "omit",
      mode: "cors",
    });
  } catch {
    throw new ApiError(0, "unreachable", "Loket cannot be reached");
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? "");
  }
  return body as WidgetSession;
}

/**
 * Send a photo into the token's active call (the server strips its metadata); ``null`` when it
 * was taken, else the server's error code (``unreachable`` when Loket could not be reached).
 */
export async function sendPhoto(base: string, token: string, file: Blob): Promise<string | null> {
  try {
    const response = await fetch(`${base}/api/v1/widget/attachments`, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream", Authorization: `Bearer ${token}` },
      body: file,
      credentials: "omit",
      mode: "cors",
    });
    if (response.ok) return null;
    const body = (await response.json().catch(() => null)) as { error?: { code?: string } } | null;
    return body?.error?.code ?? `http_${response.status}`;
  } catch {
    return "unreachable";
  }
}

/** An image of the token's own call, or ``null`` when it cannot be had. */
export async function loadImage(base: string, token: string, id: string): Promise<Blob | null> {
  try {
    const response = await fetch(`${base}/api/v1/widget/attachments/${encodeURIComponent(id)}`, {
      headers: { Authorization: `Bearer ${token}` },
      credentials: "omit",
      mode: "cors",
    });
    return response.ok ? await response.blob() : null;
  } catch {
    return null;
  }
}

/**
 * Rate the visitor token's own call (1–5) once it has ended; true when it was stored. Never
 * throws: a rating that cannot be stored must not trouble the visitor.
 */
export async function rateCall(base: string, token: string, rating: number): Promise<boolean> {
  try {
    const response = await fetch(`${base}/api/v1/widget/rating`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ rating }),
      credentials: "omit",
      mode: "cors",
    });
    return response.ok;
  } catch {
    return false;
  }
}
