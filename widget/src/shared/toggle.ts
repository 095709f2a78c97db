import { h, icon } from "./dom";

/** What a mute or camera-off button turns off, how it looks, and what it says. */
export interface TrackToggle {
  /** The tracks it turns off and on; read on each click, so a camera switch's new track counts. */
  tracks(): MediaStreamTrack[];
  on: "mic" | "camera";
  off: "micOff" | "cameraOff";
  /** The action ("Mute microphone"): the button's name, whatever its state. */
  label: string;
  /** The tooltip while pressed ("Unmute"), when it should say the way back; else ``label``. */
  pressedTitle?: string;
  className: string;
}

/**
 * A mute / camera-off button, the same in the widget and the console: the label names the
 * action and ``aria-pressed`` says the state ("Mute microphone, pressed"), as WAI-ARIA's
 * toggle button pattern asks; disabled when there is nothing to turn off.
 */
export function trackToggle(spec: TrackToggle): HTMLButtonElement {
  const button = h("button", {
    type: "button",
    class: spec.className,
    "aria-pressed": "false",
    "aria-label": spec.label,
    title: spec.label,
    disabled: spec.tracks().length === 0,
  });
  button.append(icon(spec.on));
  button.addEventListener("click", () => {
    const off = button.getAttribute("aria-pressed") !== "true";
    for (const track of spec.tracks()) track.enabled = !off;
    button.setAttribute("aria-pressed", String(off));
    button.title = off ? (spec.pressedTitle ?? spec.label) : spec.label;
    button.replaceChildren(icon(off ? spec.off : spec.on));
  });
  return button;
}
