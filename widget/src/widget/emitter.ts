import type { LoketEvent, LoketEvents } from "./public";

type Listener<E extends LoketEvent> = (data: LoketEvents[E]) => void;

/** ``Loket.on``: listeners per event. ``ready`` is remembered, so a late listener still hears it. */
export class Emitter {
  private readonly listeners = new Map<LoketEvent, Set<Listener<never>>>();
  private isReady = false;

  on<E extends LoketEvent>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    if (event === "ready" && this.isReady) queueMicrotask(() => this.call("ready", listener as Listener<"ready">, {}));
    return () => set.delete(listener as Listener<never>);
  }

  emit<E extends LoketEvent>(event: E, data: LoketEvents[E]): void {
    if (event === "ready") this.isReady = true;
    for (const listener of Array.from(this.listeners.get(event) ?? [])) this.call(event, listener as Listener<E>, data);
  }

  private call<E extends LoketEvent>(event: E, listener: Listener<E>, data: LoketEvents[E]): void {
    try {
      // A copy: one listener cannot change what the next one sees.
      listener({ ...data });
    } catch (error) {
      // A broken listener on the host page must not break the call.
      console.error("Loket: a listener for", event, "failed:", error);
    }
  }
}
