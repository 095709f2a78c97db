import { h, icon } from "../../shared/dom";
import type { Catalogue } from "../i18n";

export type LauncherState = "idle" | "waiting" | "call";

/** The floating button the page shows: opens the panel, and says when a call is going on. */
export class Launcher {
  readonly el: HTMLButtonElement;
  private readonly label: HTMLSpanElement;
  private readonly badge: HTMLSpanElement;

  constructor(
    private readonly t: Catalogue,
    panelId: string,
    onClick: () => void,
  ) {
    this.label = h("span", {}, t.launcher);
    this.badge = h("span", { class: "badge", hidden: true });
    this.el = h(
      "button",
      {
        type: "button",
        class: "launcher",
        "data-part": "launcher",
        "aria-haspopup": "dialog",
        "aria-expanded": "false",
        "aria-controls": panelId,
        onclick: onClick,
      },
      this.badge,
      icon("camera"),
      this.label,
    );
  }

  /** ``unread``: a chat line arrived while the panel was closed (only shown in a call). */
  set(state: LauncherState, expanded: boolean, unread = false): void {
    const t = this.t;
    const call = unread ? t.chatNew : t.launcherCall;
    this.label.textContent = state === "waiting" ? t.launcherWaiting : state === "call" ? call : t.launcher;
    this.badge.hidden = state === "idle";
    this.el.setAttribute("aria-expanded", String(expanded));
    this.el.hidden = expanded;
  }
}
