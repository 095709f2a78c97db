import { h, uid } from "./dom";
import type { ChatMessage } from "./wire";

export interface ChatTexts {
  chatTitle: string;
  chatLabel: string;
  chatSend: string;
  chatYou: string;
  chatThem: string;
  chatFailed: string;
}

/** Sends one line; resolves to an error code, or ``null`` when the server took it. */
export type ChatSender = (text: string) => Promise<string | null>;

const MAX_LENGTH = 2000;

/**
 * The chat of a call, shared by the widget and the adviser console: a log of lines
 * (``role="log"``, so screen readers announce arriving lines politely, WAI-ARIA 1.2 §5.3.3)
 * and a one-line form. Enter sends; lines are shown once (by id), in arrival order.
 */
export class ChatPanel {
  readonly el: HTMLElement;
  readonly input: HTMLTextAreaElement;
  private readonly log: HTMLOListElement;
  private readonly problem: HTMLParagraphElement;
  private readonly seen = new Set<string>();

  constructor(
    private readonly t: ChatTexts,
    private readonly me: "visitor" | "adviser",
    private readonly send: ChatSender,
  ) {
    const title = uid("chat-title");
    const field = uid("chat-input");
    this.log = h("ol", { class: "chat-log", role: "log", "aria-live": "polite", "aria-labelledby": title, "data-part": "chat-log" });
    this.problem = h("p", { class: "chat-problem", role: "alert", hidden: true });
    this.input = h("textarea", {
      id: field,
      class: "chat-input",
      rows: 1,
      maxlength: MAX_LENGTH,
      autocomplete: "off",
      "data-part": "chat-input",
    });
    this.input.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter breaks the line (as in every chat); not while composing (IME).
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.submit();
      }
    });
    const form = h(
      "form",
      { class: "chat-form" },
      h("label", { for: field, class: "sr" }, t.chatLabel),
      this.input,
      h("button", { type: "submit", class: "btn primary chat-send", "data-part": "chat-send" }, t.chatSend),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.el = h(
      "section",
      { class: "chat", "aria-labelledby": title, "data-part": "chat" },
      h("h4", { id: title, class: "chat-title" }, t.chatTitle),
      this.log,
      this.problem,
      form,
    );
    this.input.placeholder = t.chatLabel;
  }

  /** Show a ``chat:message`` (a repeat of one already shown is ignored). */
  add(message: ChatMessage): void {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    const mine = message.from === this.me;
    const time = new Date(message.sent_at);
    const clock = Number.isNaN(time.getTime())
      ? ""
      : time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    this.log.append(
      h(
        "li",
        { class: mine ? "line mine" : "line theirs", "data-from": message.from },
        h("span", { class: "from" }, `${mine ? this.t.chatYou : this.t.chatThem}${clock ? ` · ${clock}` : ""}`),
        h("span", { class: "sr" }, ": "),
        h("span", { class: "text" }, message.text),
      ),
    );
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** Show a photo line (``attachment:added``; a repeat is ignored): ``caption`` above the image,
   * which ``load`` fetches (it needs the party's token, so it cannot be a plain ``src``). */
  addImage(entry: { id: string; from: "visitor" | "adviser"; sent_at: string }, caption: string, load: () => Promise<Blob | null>): void {
    if (this.seen.has(entry.id)) return;
    this.seen.add(entry.id);
    const mine = entry.from === this.me;
    const image = h("img", { class: "chat-image", alt: caption, "data-part": "chat-image" });
    const link = h("a", { target: "_blank", rel: "noopener", hidden: true }, image);
    this.log.append(
      h(
        "li",
        { class: mine ? "line mine" : "line theirs", "data-from": entry.from, "data-attachment": entry.id },
        h("span", { class: "from" }, mine ? this.t.chatYou : this.t.chatThem),
        h("span", { class: "sr" }, ": "),
        h("span", { class: "text" }, caption),
        link,
      ),
    );
    void load().then((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      image.src = link.href = url;
      link.hidden = false;
      image.addEventListener("load", () => (this.log.scrollTop = this.log.scrollHeight), { once: true });
    });
    this.log.scrollTop = this.log.scrollHeight;
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.disabled = true;
    const error = await this.send(text);
    this.input.disabled = false;
    if (error) {
      this.problem.textContent = this.t.chatFailed;
      this.problem.hidden = false;
    } else {
      this.problem.hidden = true;
      this.input.value = "";
    }
    this.input.focus();
  }
}
