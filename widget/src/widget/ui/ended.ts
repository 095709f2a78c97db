import { h, icon } from "../../shared/dom";
import type { Catalogue } from "../i18n";
import type { View } from "./panel";

export interface Ending {
  reference: string;
  /** The visitor's privacy key from ``call:ended`` (or the end acknowledgement); "" if none came. */
  privacyKey: string;
  reason: string;
  /** The visitor left the queue before anyone answered. */
  left: boolean;
  /** An adviser answered: only such a call can be rated. */
  answered: boolean;
  /** With reason ``max_wait``: when to try again, already formatted for the visitor; "" if unknown. */
  retryAt: string;
}

export interface EndedHandlers {
  again(): void;
  close(): void;
  /** Store the rating; resolves true once stored (never rejects). Null: no rating asked. */
  rate: ((rating: number) => Promise<boolean>) | null;
}

/** After the call: the privacy key to keep (the visitor's only privacy credential, shown once),
 * the privacy-request link, the call's reference, an optional rating. */
export class EndedView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  /** 1–5 once the visitor pressed a star; the server has it when the thank-you shows. */
  rating: number | null = null;
  private sending: Promise<unknown> = Promise.resolve();

  constructor(t: Catalogue, base: string, ending: Ending, handlers: EndedHandlers) {
    const outwaited = ending.reason === "max_wait";
    this.focus = h("h3", { tabindex: "-1" }, ending.left ? t.leftTitle : outwaited ? t.maxWaitTitle : t.endedTitle);
    const because = outwaited
      ? ending.retryAt
        ? t.maxWaitRetry(ending.retryAt)
        : t.maxWaitLater
      : ending.reason === "adviser_ended"
        ? t.endedByAdviser
        : /disconnect|failed|media/.test(ending.reason)
          ? t.endedConnection
          : null;

    // In the fragment, which browsers never send: the key stays out of every server's logs.
    const privacy = new URL(`${base}/privacy/request`);
    if (ending.privacyKey) privacy.hash = new URLSearchParams({ key: ending.privacyKey }).toString();

    this.el = h(
      "div",
      {},
      this.focus,
      because ? h("p", { class: "muted", "data-part": "ended-reason" }, because) : null,
      ending.left ? null : this.privacyBlock(t, ending, privacy.href),
      ending.answered && handlers.rate ? this.ratingBlock(t, handlers.rate) : null,
      h("button", { type: "button", class: "btn primary block", onclick: () => handlers.again() }, t.again),
      h("button", { type: "button", class: "btn secondary block", onclick: () => handlers.close() }, t.done),
    );
  }

  private privacyBlock(t: Catalogue, ending: Ending, href: string): HTMLElement {
    const link = h("a", { href, target: "_blank", rel: "noopener noreferrer" }, t.privacyLink);
    const reference = h(
      "p",
      { class: "help" },
      t.referenceNote,
      " ",
      h("code", { "data-part": "reference" }, ending.reference),
    );
    if (!ending.privacyKey) return h("div", {}, h("p", { class: "help" }, link), reference);
    const key = h("code", { "data-part": "privacy-key", class: "key" }, ending.privacyKey);
    const copy = h("button", { type: "button", class: "btn secondary" }, t.copy);
    copy.addEventListener("click", () => {
      navigator.clipboard?.writeText(ending.privacyKey).then(
        () => {
          copy.textContent = t.copied;
        },
        () => undefined,
      );
    });
    return h(
      "div",
      {},
      h("p", { class: "label" }, t.privacyKeyLabel),
      h("div", { class: "reference" }, key, copy),
      h("p", { class: "help" }, t.privacyKeyHelp, " ", link),
      reference,
    );
  }

  private ratingBlock(t: Catalogue, rate: (rating: number) => Promise<boolean>): HTMLElement {
    const thanks = h("p", { class: "help", role: "status" });
    const stars: HTMLButtonElement[] = [];
    for (let n = 1; n <= 5; n += 1) {
      const star = h("button", { type: "button", class: "star", "aria-label": t.rateStar(n), "aria-pressed": "false" }, icon("star"));
      star.addEventListener("click", () => {
        this.rating = n;
        stars.forEach((s, i) => {
          s.classList.toggle("lit", i < n);
          s.setAttribute("aria-pressed", String(i === n - 1));
        });
        thanks.textContent = "";
        // One request at a time, so the last star pressed is the one stored. Thanks once it
        // is stored; a failure stays quiet (the stars still show what was chosen).
        const sent = this.sending.then(() => rate(n));
        this.sending = sent;
        void sent.then((stored) => {
          if (stored && this.rating === n) thanks.textContent = t.thanks;
        });
      });
      stars.push(star);
    }
    const titleId = "loket-rate-title";
    return h(
      "div",
      { class: "rating" },
      h("p", { id: titleId }, t.rateTitle),
      h("div", { class: "stars", role: "group", "aria-labelledby": titleId }, ...stars),
      thanks,
    );
  }
}
