/** Wire shapes of Loket's widget contract (README: "The API in brief"). */
import type { ChatMessage } from "./ui/chat";

export interface QueueInfo {
  id: string;
  name: string;
  languages: string[];
  open: boolean;
  opens_at: string | null;
  recording_policy: string;
}

export interface ConsentText {
  id: string;
  language: string;
  text: string;
}

/** ``POST /api/v1/widget/sessions``. */
export interface WidgetSession {
  visitor_token: string;
  expires_in: number;
  ice_servers: RTCIceServer[];
  queues: QueueInfo[];
  consent_texts: ConsentText[];
}

export interface WireError {
  code: string;
  message: string;
}

/** Every client→server event is acknowledged with ``{ok: true, ...}`` or ``{ok: false, error}``. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: WireError };

export interface Joined {
  call_id: string;
  reference: string;
  position: number;
}

export interface Resumed {
  replayed: number;
  call: { call_id: string; status: string; reference: string; position?: number } | null;
}

export interface Answer {
  sdp: string;
  type: RTCSdpType;
}

/** ``rtc:candidate``: W3C RTCIceCandidateInit; ``candidate: null`` ends the candidates. */
export interface CandidatePayload {
  candidate: string | null;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export interface PositionEvent {
  position: number;
  eta_seconds: number | null;
}

export interface AcceptedEvent {
  call_id: string;
  reference: string;
  adviser: { display_name: string };
}

export interface EndedEvent {
  call_id: string;
  reason: string;
  reference: string;
}

export interface RecordingEvent {
  active: boolean;
  reason?: string;
}

/** What the server sends a visitor (each with a per-session ``seq``). */
export interface ServerEvents {
  "queue:position": PositionEvent;
  "call:accepted": AcceptedEvent;
  "call:ended": EndedEvent;
  "recording:state": RecordingEvent;
  "rtc:candidate": CandidatePayload;
  "chat:message": ChatMessage;
}
