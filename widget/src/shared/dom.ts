/**
 * A few lines instead of a UI framework, for every page (the widget, the consoles, the privacy
 * page): build elements (text is set as text, never parsed as HTML), swap contents, label form
 * fields, make icons and videos.
 */

export type Child = Node | string | null | undefined | false;
export type Props = Record<string, string | number | boolean | null | undefined | EventListener>;

/**
 * ``h("button", {class: "x", "aria-label": "Close", onclick: fn}, "text")``: ``on*`` keys are
 * listeners, ``false``/``null`` attributes are left out, ``true`` ones are set empty.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replace everything inside ``parent``. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

let counter = 0;
/** A page-unique id (unique inside the widget's shadow root too), for label/aria wiring. */
export function uid(prefix: string): string {
  counter += 1;
  return `loket-${prefix}-${counter}`;
}

/** A labelled form field: ``label`` above ``control``, an optional help line tied by aria-describedby. */
export function field(label: string, control: HTMLElement, help?: string): HTMLDivElement {
  const id = control.id || uid("f");
  control.id = id;
  const helpId = help ? `${id}-help` : null;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    help && helpId ? h("p", { class: "help", id: helpId }, help) : null,
  );
}

/** Copy ``text`` to the clipboard; falls back to selecting a hidden textarea (http, old browsers). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "sr", "aria-hidden": "true" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

const FILLED: Record<string, string> = { hangUp: "2 6 20 12", star: "0 0 24 24" };

const PATHS: Record<string, string> = {
  camera: "M4 7h10a2 2 0 0 1 2 2v1.5l4-2.5v8l-4-2.5V15a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z",
  cameraOff:
    "M3 3l18 18M10 7h4a2 2 0 0 1 2 2v1.5l4-2.5v8M16 16.5V15a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2h1",
  mic: "M12 3a3 3 0 0 1 3 3v5a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3zM5 11a7 7 0 0 0 14 0M12 18v3",
  micOff: "M3 3l18 18M9 9v2a3 3 0 0 0 5.1 2.1M15 10V6a3 3 0 0 0-5.9-.8M5 11a7 7 0 0 0 11.3 5.5M19 11a7 7 0 0 1-.5 2.5M12 18v3",
  // A handset put down; filled, and drawn in a tighter box than the line icons.
  hangUp:
    "M12 9c-4.2 0-8 1.3-9.6 3.1-.5.6-.5 1.4 0 2l1.3 1.5c.4.5 1.1.6 1.7.3l2.4-1.2c.5-.3.8-.8.7-1.4l-.2-1.4c2.4-.7 5-.7 7.4 0l-.2 1.4c-.1.6.2 1.1.7 1.4l2.4 1.2c.6.3 1.3.2 1.7-.3l1.3-1.5c.5-.6.5-1.4 0-2C20 10.3 16.2 9 12 9z",
  close: "M6 6l12 12M18 6L6 18",
  // A camera body with its lens (a photo), and two arrows round each other (switch camera).
  photo: "M4 8h3l2-3h6l2 3h3a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V9a1 1 0 0 1 1-1zM12 10.5a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
  flip: "M4 12a8 8 0 0 1 14-5.3M20 4v4h-4M20 12a8 8 0 0 1-14 5.3M4 20v-4h4",
  star: "M12 3l2.8 5.7 6.2.9-4.5 4.4 1 6.2L12 17.3 6.5 20.2l1-6.2L3 9.6l6.2-.9z",
};

/** An inline SVG icon (decorative: the button around it carries the label). */
export function icon(name: keyof typeof PATHS): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const filled = FILLED[name];
  svg.setAttribute("viewBox", filled ?? "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", filled ? `icon filled icon-${name}` : "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", PATHS[name] ?? "");
  svg.appendChild(path);
  return svg;
}

/** A ``<video>`` showing ``stream``; self views are muted (no echo) and mirrored by CSS. */
export function videoElement(className: string, label: string, muted: boolean): HTMLVideoElement {
  const video = h("video", { class: className, "aria-label": label, playsinline: true, autoplay: true });
  video.muted = muted;
  return video;
}
