/**
 * The few DOM helpers the admin console and the privacy page share (no framework: a page of
 * forms and tables does not need one). Text is always set as text, never parsed as HTML.
 */

export type Child = Node | string | null | undefined | false;
export type Props = Record<string, string | number | boolean | null | undefined | EventListener>;

/**
 * ``h("button", {class: "btn", onclick: fn}, "Save")``: ``on*`` keys are listeners, ``false``
 * and ``null`` attributes are left out, ``true`` ones are set empty.
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

let nextId = 0;

/** A page-unique id, to tie a label or a description to its control. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
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
