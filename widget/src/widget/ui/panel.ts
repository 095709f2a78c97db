import { h, icon, uid } from "../../shared/dom";
import type { Catalogue } from "../i18n";

/** One screen of the flow: its element and where focus goes when it appears. */
export interface View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  dispose?(): void;
}

/**
 * The dialog frame: a title bar with a close button, the current view, and a polite live
 * region through which changes (queue position, call state) are announced.
 */
export class Panel {
  readonly el: HTMLElement;
  readonly id = uid("panel");
  private readonly body: HTMLDivElement;
  private readonly live: HTMLDivElement;
  private view: View | null = null;

  constructor(t: Catalogue, onClose: () => void) {
    const titleId = uid("title");
    this.body = h("div", { class: "body" });
    this.live = h("div", { class: "sr", role: "status", "aria-live": "polite", "aria-atomic": "true" });
    this.el = h(
      "section",
      { class: "panel", id: this.id, role: "dialog", "aria-modal": "false", "aria-labelledby": titleId, hidden: true },
      h(
        "div",
        { class: "head" },
        h("h2", { id: titleId }, t.title),
        h("button", { type: "button", class: "close", "aria-label": t.close, "data-part": "close", onclick: onClose }, icon("close")),
      ),
      this.body,
      this.live,
    );
  }

  get visible(): boolean {
    return !this.el.hidden;
  }

  set visible(value: boolean) {
    this.el.hidden = !value;
  }

  get current(): View | null {
    return this.view;
  }

  show(view: View, { wide = false } = {}): void {
    // Keep focus with the visitor: move it to the new view when it was in the old one, or
    // when it was lost (a button that got disabled, a view that went away).
    const active = this.activeElement();
    const lost = document.activeElement === null || document.activeElement === document.body;
    const hadFocus = this.visible && ((active !== null && this.el.contains(active)) || lost);
    this.view?.dispose?.();
    this.view = view;
    this.body.replaceChildren(view.el);
    this.el.classList.toggle("wide", wide);
    this.body.scrollTop = 0;
    if (hadFocus) view.focus.focus();
  }

  announce(text: string): void {
    // Cleared first and set a moment later, so that an unchanged text is read again.
    this.live.textContent = "";
    setTimeout(() => {
      this.live.textContent = text;
    }, 50);
  }

  private activeElement(): Element | null {
    const root = this.el.getRootNode();
    return root instanceof ShadowRoot ? root.activeElement : document.activeElement;
  }
}
