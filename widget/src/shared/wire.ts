/**
 * Wire shapes of Loket's contract (README: "The API in brief"): what both parties of a call
 * exchange, the widget's REST session and the ``/visitor`` events, and the ``/adviser`` events.
 * The UI imports these, never the reverse.
 */

export interface WireError {
  code: string;
  message: string;
}

/** Every client→server event is acknowledged with ``{ok: true, ...}`` or ``{ok: false, error}``. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: WireError };

// -- both parties --------------------------------------------------------------------------

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

/** ``chat:message``, as both parties receive it. */
export interface ChatMessage {
  id: string;
  from: "visitor" | "adviser";
  text: string;
  sent_at: string;
}

/** ``attachment:added``: a photo (visitor) or snapshot (adviser) in the call, already stripped of
 * metadata on the server; its bytes are fetched over REST. */
export interface AttachmentEvent {
  id: string;
  call_id: string;
  from: "visitor" | "adviser";
  kind: "photo" | "snapshot";
  content_type: string;
  width: number;
  height: number;
  bytes: number;
  sent_at: string;
}

export interface RecordingEvent {
  active: boolean;
  reason?: string;
}

/** ``media:renegotiate``: the call's media moved (its media node was lost); offer afresh from a
 * new RTCPeerConnection. The call keeps its id, reference, chat and consent. */
export interface RenegotiateEvent {
  call_id: string;
  reason: "media_node_lost" | string;
}

export interface EndedEvent {
  call_id: string;
  reason: string;
  reference: string;
  /** Only ever to the visitor: their privacy key (docs/architecture.md, "Identities"). */
  privacy_key?: string;
  /** With reason ``max_wait``: when the queue next starts a fresh opening period (ISO 8601), or null. */
  retry_at?: string | null;
}

// -- the visitor (widget) ------------------------------------------------------------------

export interface QueueInfo {
  id: string;
  name: string;
  languages: string[];
  open: boolean;
  opens_at: string | null;
  recording_policy: string;
  /** The queue's IANA time zone: its ``opens_at`` and ``retry_at`` are shown in it. */
  timezone?: string;
}

export interface ConsentText {
  id: string;
  language: string;
  text: string;
  /** The organisation's version (null: the built-in text) and the SHA-256 of ``text``. */
  version?: number | null;
  sha256?: string;
}

/** ``POST /api/v1/widget/sessions``. */
export interface WidgetSession {
  visitor_token: string;
  expires_in: number;
  ice_servers: RTCIceServer[];
  queues: QueueInfo[];
  consent_texts: ConsentText[];
}

export interface Joined {
  call_id: string;
  reference: string;
  position: number;
}

/** The answer to the visitor's ``session:resume``. */
export interface VisitorResumed {
  replayed: number;
  call: {
    call_id: string;
    status: string;
    reference: string;
    position?: number;
    sharing?: boolean;
    transferring?: boolean;
  } | null;
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

/** What the server sends a visitor (each with a per-session ``seq``). */
export interface VisitorEvents {
  "queue:position": PositionEvent;
  "call:accepted": AcceptedEvent;
  /** The call is being handed to another adviser or queue (the visitor stays connected). */
  "call:transferred": { call_id: string };
  /** A transfer to an adviser was refused or not answered: the call goes on as it was. */
  "call:transfer_failed": { call_id: string };
  /** The adviser's video is a shared screen (show it large), or their camera again. */
  "share:state": { active: boolean };
  "call:ended": EndedEvent;
  "media:renegotiate": RenegotiateEvent;
  "recording:state": RecordingEvent;
  "rtc:candidate": CandidatePayload;
  "chat:message": ChatMessage;
  "attachment:added": AttachmentEvent;
}

// -- the adviser (console) -----------------------------------------------------------------

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
  /** What the host page said (allowlisted keys, checked on the server). */
  context?: Record<string, string>;
  /** A call a colleague transferred (with their note), or null. */
  transfer?: { note: string | null } | null;
}

/** The answer to the adviser's ``session:resume``. */
export interface AdviserResumed {
  replayed: number;
  call: { call_id: string; status: string; reference: string; recording?: boolean } | null;
  snapshot?: Snapshot;
}

/** What the server sends an adviser (each with a per-session ``seq``). */
export interface AdviserEvents {
  "queue:snapshot": Snapshot;
  "call:incoming": Incoming;
  "call:accepted": { call_id: string; reference: string; queue_id: string; waited_seconds: number; context?: Record<string, string> };
  "call:withdrawn": { call_id: string; reason: string };
  /** This adviser's call went to a queue or was accepted by a colleague: it is no longer here. */
  "call:transferred": { call_id: string; to: "queue" | "adviser"; queue_id?: string };
  /** The colleague refused or missed the transfer: the call is this adviser's again. */
  "call:transfer_failed": { call_id: string; reason: string };
  "call:ended": EndedEvent;
  "media:renegotiate": RenegotiateEvent;
  "presence:state": { status: "available" | "away"; reason?: string };
  "recording:state": RecordingEvent;
  "chat:message": ChatMessage;
  "attachment:added": AttachmentEvent;
  "rtc:candidate": CandidatePayload;
}
