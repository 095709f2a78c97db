/**
 * The admin console's view of the REST API: the resource types it shows and a thin JSON wrapper
 * around the shared ``StaffSession`` (which handles tokens, refresh and ``ApiError``).
 */
// Not "../staff": its index also exports the socket helper, and socket.io has no use here.
import { ApiError } from "../staff/errors";
import type { StaffSession } from "../staff/session";
import { errorText, STAFF_CATALOGUES, t } from "../staff/texts";

export { ApiError };

export type Role = "adviser" | "supervisor" | "admin" | "dpo";
export type OpeningHours = Record<string, string[][]>;

export interface Queue {
  id: string;
  name: string;
  languages: string[];
  opening_hours: OpeningHours | null;
  timezone: string;
  /** ISO dates the queue is closed all day, in its time zone. */
  closing_days: string[];
  /** Past it a waiting visitor is told when to try again; null: no limit. */
  max_wait_seconds: number | null;
  recording_policy: "off" | "ask";
  transcription: boolean;
  created_at: string;
}

export interface User {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  active: boolean;
  languages: string[];
  queue_ids: string[];
  totp_enabled: boolean;
  created_at: string;
}

export interface WidgetKey {
  id: string;
  key: string;
  origins: string[];
  /** Keys of the context a page may pass (``Loket.open({context})``, ``data-context-*``). */
  context_keys: string[];
  active: boolean;
  created_at: string;
  embed_snippet: string;
}

export type RetentionKind = "recordings" | "transcripts" | "call_metadata" | "chat" | "attachments";

export interface RetentionRule {
  id: string;
  queue_id: string | null;
  kind: RetentionKind;
  days: number;
  created_at: string;
  updated_at: string;
}

export interface Recording {
  id: string;
  call_id: string;
  reference: string;
  participant: string;
  status: string;
  duration_seconds: number | null;
  bytes: number | null;
  created_at: string;
  delete_after: string | null;
  legal_hold: boolean;
  playable: boolean;
}

/** A transcript as the list shows it: how it was made and kept, never what was said. */
export interface TranscriptListed {
  id: string;
  call_id: string;
  reference: string;
  status: "pending" | "done" | "failed";
  language: string | null;
  model: string | null;
  redacted: boolean;
  legal_hold: boolean;
  created_at: string;
  completed_at: string | null;
  delete_after: string | null;
}

/** One transcript read in full (each read is audited). */
export interface Transcript extends Omit<TranscriptListed, "reference"> {
  error: string | null;
  segments: { start: number; end: number; speaker: string | null; text: string }[] | null;
}

export interface Organisation {
  id: string;
  name: string;
  /** Phone numbers, e-mail addresses, IBANs and plates are removed before a transcript is stored. */
  redact_transcripts: boolean;
  created_at: string;
}

export interface AuditEvent {
  seq: number;
  occurred_at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  hash: string;
  prev_hash: string;
}

export interface DayStatistics {
  day: string;
  total: number;
  answered: number;
  abandoned: number;
  average_wait_seconds: number | null;
  max_wait_seconds: number | null;
  /** Calls the visitor rated (1–5 stars) and their mean; null when none. */
  ratings: number;
  average_rating: number | null;
  /** Calls passed on to another queue or adviser (completed transfers). */
  transfers: number;
}

export interface Statistics {
  timezone: string;
  days: number;
  per_day: DayStatistics[];
  totals: DayStatistics;
}

/** JSON calls to ``/api/v1`` as the logged-in staff member. */
export class AdminApi {
  constructor(private readonly session: StaffSession) {}

  get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
    const search = params.toString();
    return this.session.fetch<T>(`/api/v1${path}${search ? `?${search}` : ""}`);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.send<T>("POST", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>("PATCH", path, body);
  }

  delete(path: string): Promise<void> {
    return this.session.fetch<void>(`/api/v1${path}`, { method: "DELETE" });
  }

  private send<T>(method: string, path: string, body: unknown): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = JSON.stringify(body);
    return this.session.fetch<T>(`/api/v1${path}`, init);
  }
}

/** A sentence for the person at the screen, from the API's error JSON. */
export function explain(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403 && !(`error.${error.code}` in STAFF_CATALOGUES.en)) return t("admin.notAllowed", { why: error.message || t("error.forbiddenRole") });
    return errorText(error.code, error.message ? capitalise(error.message) : undefined);
  }
  return error instanceof Error ? error.message : String(error);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
