import { h } from "../../shared/dom";
import type { View } from "./panel";

/** A short screen with a title, a sentence and maybe one button: loading and error states. */
export class MessageView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;

  constructor(title: string, text: string, action: { label: string; run: () => void } | null = null) {
    this.focus = h("h3", { tabindex: "-1" }, title);
    this.el = h(
      "div",
      {},
      this.focus,
      text ? h("p", { class: "muted" }, text) : null,
      action ? h("button", { type: "button", class: "btn primary block", onclick: action.run }, action.label) : null,
    );
  }
}
