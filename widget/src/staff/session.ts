import { ApiError } from "./errors";

/** ``GET /api/v1/auth/me``. */
export interface Me {
  id: string;
  org_id: string;
  email: string;
  display_name: string;
  role: string;
  languages: string[];
  /** The consoles' language ("nl", "de", "fr", "en"); null follows the browser's. */
  ui_language: string | null;
}

interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

const STORAGE_KEY = "loket.staff.refresh";
/** Refresh this long before the access token expires (clock skew, slow networks). */
const REFRESH_MARGIN_MS = 30_000;

/**
 * A logged-in staff member: access token in memory, refresh token in ``sessionStorage``
 * (one tab, gone when the tab closes). The access token is refreshed shortly before it
 * expires and once more on a 401; refresh tokens rotate, so there is only ever one refresh
 * in flight (reusing a rotated token revokes the whole chain on the server).
 */
export class StaffSession {
  private access: string | null = null;
  private expiresAt = 0;
  private refreshing: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private current: Me | null = null;
  private readonly listeners = new Set<() => void>();

  /** ``base``: Loket's origin (and path prefix); the page's own origin by default. */
  constructor(private readonly base: string = location.origin) {}

  /** The logged-in staff member; throws before ``login``/``restore`` succeeded. */
  get me(): Me {
    if (!this.current) throw new ApiError(401, "unauthenticated", "not logged in");
    return this.current;
  }

  get loggedIn(): boolean {
    return this.current !== null;
  }

  /** Called when the session ends by itself (refresh refused) or by ``logout``. */
  onLogout(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Log in; ``totp`` is the 6-digit code (required for admin and dpo: error ``totp_required``). */
  async login(email: string, password: string, totp?: string): Promise<Me> {
    const body: Record<string, string> = { email, password };
    if (totp) body["totp"] = totp;
    this.store(await this.post<TokenPair>("/api/v1/auth/login", body));
    return this.loadMe();
  }

  /** Resume from the refresh token kept in this tab; ``null`` when there is none or it is no longer valid. */
  async restore(): Promise<Me | null> {
    if (!sessionStorage.getItem(STORAGE_KEY)) return null;
    try {
      await this.refresh();
      return await this.loadMe();
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0) {
        this.clear();
        return null;
      }
      throw error;
    }
  }

  /** Revoke the refresh token (best effort) and forget everything. */
  async logout(): Promise<void> {
    const refresh = sessionStorage.getItem(STORAGE_KEY);
    this.clear();
    if (refresh) {
      await this.post("/api/v1/auth/logout", { refresh_token: refresh }).catch(() => undefined);
    }
    this.emitLogout();
  }

  /**
   * Forget the access token, so the next ``accessToken()`` refreshes: the server closed a
   * socket because its token expired or the account changed, and a reconnect must not
   * offer the same token again.
   */
  invalidate(): void {
    this.expiresAt = 0;
  }

  /** A valid access token (refreshed first when it is about to expire). */
  async accessToken(): Promise<string> {
    if (!this.access || Date.now() > this.expiresAt - REFRESH_MARGIN_MS) await this.refresh();
    if (!this.access) throw new ApiError(401, "unauthenticated", "not logged in");
    return this.access;
  }

  /**
   * An authorised JSON request to ``path`` (e.g. ``/api/v1/calls``): the body of a 2xx
   * (``undefined`` for 204), an ``ApiError`` with the server's code otherwise. A 401 is
   * retried once after a refresh.
   */
  async fetch<T = unknown>(path: string, init: RequestInit = {}): Promise<T> {
    let response = await this.send(path, init, await this.accessToken());
    if (response.status === 401) {
      await this.refresh();
      response = await this.send(path, init, await this.accessToken());
      if (response.status === 401) this.expire();
    }
    return parse<T>(response);
  }

  private async send(path: string, init: RequestInit, token: string): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${token}`);
    if (init.body !== undefined && typeof init.body === "string" && !headers.has("Content-Type")) {
      headers.set("Content-Type", "application/json");
    }
    try {
      return await fetch(this.url(path), { ...init, headers, credentials: "omit" });
    } catch {
      throw new ApiError(0, "unreachable", "Loket cannot be reached");
    }
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const token = sessionStorage.getItem(STORAGE_KEY);
    if (!token) {
      this.expire();
      throw new ApiError(401, "unauthenticated", "not logged in");
    }
    try {
      this.store(await this.post<TokenPair>("/api/v1/auth/refresh", { refresh_token: token }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.expire();
      throw error;
    }
  }

  private store(tokens: TokenPair): void {
    this.access = tokens.access_token;
    this.expiresAt = Date.now() + tokens.expires_in * 1000;
    sessionStorage.setItem(STORAGE_KEY, tokens.refresh_token);
    clearTimeout(this.timer);
    const delay = Math.max(5_000, tokens.expires_in * 1000 - REFRESH_MARGIN_MS);
    // Keep the token fresh while the page is open, so a socket reconnect never meets an expired one.
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), delay);
  }

  private async loadMe(): Promise<Me> {
    this.current = await this.fetch<Me>("/api/v1/auth/me");
    return this.current;
  }

  private expire(): void {
    const was = this.current !== null;
    this.clear();
    if (was) this.emitLogout();
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.access = null;
    this.current = null;
    this.expiresAt = 0;
    sessionStorage.removeItem(STORAGE_KEY);
  }

  private emitLogout(): void {
    for (const listener of this.listeners) listener();
  }

  private async post<T>(path: string, body: object): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url(path), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "unreachable", "Loket cannot be reached");
    }
    return parse<T>(response);
  }

  private url(path: string): string {
    return `${this.base.replace(/\/$/, "")}${path}`;
  }
}

async function parse<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? "");
  }
  return body as T;
}
