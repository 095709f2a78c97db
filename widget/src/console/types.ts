/** Wire shapes the adviser console receives (DESIGN.md, "Contract"). */
import type { ChatMessage } from "../ui/chat";
import type { CandidatePayload, RecordingEvent } from "../types";

export interface Waiting {
  call_id: string;
  queue_id: string;
  language: string | null;
  status: "waiting" | "ringing";
  waited_seconds: number;
}

export interface Snapshot {
  waiting: Waiting[];
  presence: "available" | "away" | "offline";
  activity: "idle" | "ringing" | "busy";
}

export interface Incoming {
  call_id: string;
  queue_id: string;
  language: string | null;
  waited_seconds: number;
  /** How long it rings; unknown when the ring is restored after a reload. */
  ring_seconds?: number;
}

export interface AdviserResumed {
  replayed: number;
  call: { call_id: string; status: string; reference: string; recording?: boolean } | null;
  snapshot?: Snapshot;
}

export interface Ended {
  call_id: string;
  reason: string;
  reference: string;
}

/** What the server sends an adviser (each with a per-session ``seq``). */
export interface AdviserEvents {
  "queue:snapshot": Snapshot;
  "call:incoming": Incoming;
  "call:accepted": { call_id: string; reference: string; queue_id: string; waited_seconds: number };
  "call:withdrawn": { call_id: string; reason: string };
  "call:ended": Ended;
  "presence:state": { status: "available" | "away"; reason?: string };
  "recording:state": RecordingEvent;
  "chat:message": ChatMessage;
  "rtc:candidate": CandidatePayload;
}

/** ``GET /api/v1/calls`` (an adviser gets their own calls). */
export interface CallRecord {
  id: string;
  queue_id: string;
  adviser_id: string | null;
  reference: string;
  language: string | null;
  status: string;
  end_reason: string | null;
  created_at: string;
  accepted_at: string | null;
  ended_at: string | null;
  waited_seconds: number | null;
}

export interface QueueRecord {
  id: string;
  name: string;
  languages: string[];
}
