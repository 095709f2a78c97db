/**
 * The DOM helpers the admin console and the privacy page add to the widget's own (no framework:
 * a page of forms and tables does not need one).
 */

import { append, h, type Child } from "../ui/dom";

// One element builder for every page: the widget's (text is set as text, never parsed as HTML).
export { append, h, type Child, type Props } from "../ui/dom";

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
