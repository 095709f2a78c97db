/**
 * The ring tone: two short beeps every two seconds, made with WebAudio (no audio file).
 * Browsers only let a page make sound after a user gesture, so ``unlock()`` is called from
 * the availability toggle's click; the context is then allowed to play when a call rings.
 */
export class RingTone {
  private context: AudioContext | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** How many beeps were started (tests and the page's ``data-ring-beeps`` read it). */
  beeps = 0;

  unlock(): void {
    try {
      this.context ??= new AudioContext();
      void this.context.resume().catch(() => undefined);
    } catch {
      this.context = null; // no WebAudio: ringing stays visual only
    }
  }

  get ringing(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.unlock();
    const ring = (): void => {
      this.beep(0, 880);
      this.beep(0.25, 660);
    };
    ring();
    this.timer = setInterval(ring, 2000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private beep(at: number, frequency: number): void {
    const context = this.context;
    if (!context) return;
    const start = context.currentTime + at;
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    // A soft attack and release: a click-free beep.
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + 0.22);
    this.beeps += 1;
    document.body.dataset["ringBeeps"] = String(this.beeps);
  }
}
