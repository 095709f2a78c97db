import { h, videoElement } from "../../shared/dom";
import type { Catalogue } from "../i18n";
import type { View } from "./panel";

/** Text for an ETA: ``null`` means nobody is staffed, so nothing is promised. */
export function etaText(t: Catalogue, seconds: number | null): string {
  if (seconds === null) return t.etaUnknown;
  if (seconds < 60) return t.etaSoon;
  return t.etaMinutes(Math.round(seconds / 60));
}

/** In the queue: the place and the expected wait, live, and a way out. */
export class WaitingView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  private readonly number: HTMLDivElement;
  private readonly positionText: HTMLParagraphElement;
  private readonly etaLine: HTMLParagraphElement;
  private readonly notice: HTMLDivElement;
  private readonly leaveButton: HTMLButtonElement;

  constructor(
    private readonly t: Catalogue,
    local: MediaStream | null,
    onLeave: () => void,
  ) {
    this.focus = h("h3", { tabindex: "-1" }, t.waitingTitle, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")));
    this.number = h("div", { class: "number", "aria-hidden": "true" }, "–");
    this.positionText = h("p", {});
    this.etaLine = h("p", {});
    this.notice = h("div", { class: "notice", role: "status", hidden: true });
    const self = videoElement("", t.selfView, true);
    self.srcObject = local;
    this.leaveButton = h("button", { type: "button", class: "btn secondary block", onclick: onLeave }, t.leave);
    this.el = h(
      "div",
      {},
      this.focus,
      // The place is a live region of its own: screen readers hear every change of it.
      h(
        "div",
        { class: "place", role: "status", "aria-live": "polite", "aria-atomic": "true", "data-part": "position" },
        this.number,
        h("div", { class: "lines" }, this.positionText, this.etaLine),
      ),
      this.notice,
      local?.getVideoTracks().length ? h("div", { class: "preview small" }, self) : null,
      this.leaveButton,
    );
  }

  update(position: number, eta: number | null): void {
    this.number.textContent = position > 0 ? String(position) : "–";
    this.positionText.textContent = this.t.position(position);
    this.etaLine.textContent = etaText(this.t, eta);
  }

  setOnline(online: boolean): void {
    this.notice.hidden = online;
    this.notice.textContent = online ? "" : this.t.reconnecting;
  }

  setLeaving(): void {
    this.leaveButton.disabled = true;
  }
}
