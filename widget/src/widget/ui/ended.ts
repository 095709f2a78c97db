import { h, icon } from "../../shared/dom";
import type { Catalogue } from "../i18n";
import type { View } from "./panel";

export interface Ending {
  reference: string;
  reason: string;
  /** The visitor left the queue before anyone answered. */
  left: boolean;
  /** An adviser answered: only such a call can be rated. */
  answered: boolean;
}

export interface EndedHandlers {
  again(): void;
  close(): void;
  /** Store the rating; resolves true once stored (never rejects). Null: no rating asked. */
  rate: ((rating: number) => Promise<boolean>) | null;
}

/** After the call: the reference code to keep, the privacy-request link, an optional rating. */
export class EndedView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  /** 1–5 once the visitor pressed a star; the server has it when the thank-you shows. */
  rating: number | null = null;
  private sending: Promise<unknown> = Promise.resolve();

  constructor(t: Catalogue, base: string, ending: Ending, handlers: EndedHandlers) {
    this.focus = h("h3", { tabindex: "-1" }, ending.left ? t.leftTitle : t.endedTitle);
    const because =
      ending.reason === "adviser_ended"
        ? t.endedByAdviser
        : /disconnect|failed|media/.test(ending.reason)
          ? t.endedConnection
          : null;

    const code = h("code", { "data-part": "reference" }, ending.reference);
    const copy = h("button", { type: "button", class: "btn secondary" }, t.copy);
    copy.addEventListener("click", () => {
      navigator.clipboard?.writeText(ending.reference).then(
        () => {
          copy.textContent = t.copied;
        },
        () => undefined,
      );
    });
    // In the fragment, which browsers never send: the code stays out of every server's logs.
    const privacy = new URL(`${base}/privacy/request`);
    privacy.hash = new URLSearchParams({ reference: ending.reference }).toString();

    this.el = h(
      "div",
      {},
      this.focus,
      because ? h("p", { class: "muted" }, because) : null,
      ending.left ? null : this.referenceBlock(t, code, copy, privacy.href),
      ending.answered && handlers.rate ? this.ratingBlock(t, handlers.rate) : null,
      h("button", { type: "button", class: "btn primary block", onclick: () => handlers.again() }, t.again),
      h("button", { type: "button", class: "btn secondary block", onclick: () => handlers.close() }, t.done),
    );
  }

  private referenceBlock(t: Catalogue, code: HTMLElement, copy: HTMLElement, href: string): HTMLElement {
    return h(
      "div",
      {},
      h("p", { class: "label" }, t.referenceLabel),
      h("div", { class: "reference" }, code, copy),
      h("p", { class: "help" }, t.referenceHelp, " ", h("a", { href, target: "_blank", rel: "noopener noreferrer" }, t.privacyLink)),
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
