import { type LocalMedia, openLocalMedia, stopMedia } from "../shared/devices";

/**
 * The visitor's camera and microphone from the pre-call screen on: opened once, handed to the
 * call, and released the moment they are not wanted (the camera light goes off when the panel
 * closes before a call, and when a call ends).
 */
export class CameraHold {
  private local: LocalMedia | null = null;
  /** The camera being opened; joining waits for it, so a quick click keeps the camera. */
  private opening: Promise<void> | null = null;

  /**
   * @param wanted whether the media is still wanted when the browser answers (the visitor may
   *   have closed the panel while it asked)
   * @param opened shows what was opened (or the problem) on the pre-call screen
   */
  constructor(
    private readonly wanted: () => boolean,
    private readonly opened: (local: LocalMedia) => void,
  ) {}

  get stream(): MediaStream | null {
    return this.local?.stream ?? null;
  }

  /** Open the camera afresh (the first time, or "try again" after a refusal). */
  open(): Promise<void> {
    this.release();
    const opening = openLocalMedia().then((local) => {
      if (this.opening !== opening || !this.wanted()) {
        stopMedia(local.stream); // closed (or asked again) while the browser was asking
        return;
      }
      this.local = local;
      this.opened(local);
    });
    this.opening = opening;
    return opening;
  }

  /** Resolves once the camera being opened is open (at once when none is). */
  async ready(): Promise<void> {
    await this.opening;
  }

  release(): void {
    stopMedia(this.local?.stream ?? null);
    this.local = null;
    this.opening = null;
  }
}
