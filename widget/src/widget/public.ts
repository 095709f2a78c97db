/**
 * Loket widget: the public JavaScript API of ``window.Loket`` (shipped as ``dist/loket.d.ts``).
 *
 * The events tell the host page what the widget is doing, never who the visitor is: no
 * reference code, no privacy key, no chat, no context values.
 */

/** Why a call ended (the server's reasons, plus ``"disconnected"`` when the widget lost it). */
export type LoketEndReason =
  | "visitor_ended"
  | "adviser_ended"
  | "visitor_disconnected"
  | "adviser_disconnected"
  | "visitor_left"
  | "adviser_left"
  | "media_unavailable"
  | "disconnected"
  | (string & {});

/** Every event ``Loket.on`` can follow, with its payload. */
export interface LoketEvents {
  /** The widget is on the page and ``window.Loket`` works (also sent to listeners added later). */
  ready: Record<string, never>;
  /** The panel was opened (by the launcher or ``Loket.open``). */
  open: Record<string, never>;
  /** The panel was closed; a call in progress goes on. */
  close: Record<string, never>;
  /** The visitor is waiting; sent on joining and whenever the place or estimate changes.
   * ``eta_seconds`` is ``null`` while no adviser is available. */
  queued: { position: number; eta_seconds: number | null };
  /** An adviser took the call. */
  accepted: Record<string, never>;
  /** The call was passed to another adviser or queue; the visitor stays connected. */
  transferred: Record<string, never>;
  /** The call ended, was left while waiting, or was lost. */
  ended: { reason: LoketEndReason };
}

export type LoketEvent = keyof LoketEvents;

/** Options of ``Loket.open``. */
export interface LoketOpenOptions {
  /**
   * What the page knows about what the visitor is looking at, e.g. ``{vehicle: "VW Golf 2019"}``.
   * Only keys allowed on the widget key are accepted; values are short text and must not be
   * e-mail addresses or phone numbers (the server refuses them). Merged over ``data-context-*``.
   */
  context?: Record<string, string>;
}

/** ``window.Loket``. */
export interface LoketApi {
  /** Open the panel (and start a visit when none is going on). */
  open(options?: LoketOpenOptions): void;
  /** Close the panel; a call in progress goes on. */
  close(): void;
  /** Follow ``event``; returns a function that stops following it. */
  on<E extends LoketEvent>(event: E, listener: (data: LoketEvents[E]) => void): () => void;
}

declare global {
  interface Window {
    Loket?: LoketApi;
  }
  interface WindowEventMap {
    /** Dispatched on ``window`` once ``window.Loket`` exists (for pages whose script runs first). */
    "loket:ready": CustomEvent<LoketApi>;
  }
}
