/** The events the host page can follow through ``window.Loket.on``. */
export interface PublicEvents {
  "call:accepted": { adviser: { display_name: string } };
  "call:ended": { reason: string; reference: string };
}

export type PublicEvent = keyof PublicEvents;
type Listener<E extends PublicEvent> = (data: PublicEvents[E]) => void;

export class Emitter {
  private readonly listeners = new Map<PublicEvent, Set<Listener<never>>>();

  on<E extends PublicEvent>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<E extends PublicEvent>(event: E, data: PublicEvents[E]): void {
    for (const listener of Array.from(this.listeners.get(event) ?? [])) {
      try {
        (listener as Listener<E>)(data);
      } catch (error) {
        // A broken listener on the host page must not break the call.
        console.error("Loket: a listener for", event, "failed:", error);
      }
    }
  }
}
