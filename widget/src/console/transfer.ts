import { h } from "../shared/dom";
import type { AdviserSocket } from "./call";
import { errorText, type StaffKey, t } from "../staff/texts";
import type { QueueRecord } from "./types";

/** What ``call:transfer`` refused, as keys of the catalogue (the texts are looked up when shown). */
const ERRORS: Record<string, StaffKey> = {
  not_in_call: "transfer.notInCall",
  queue_not_found: "transfer.queueNotFound",
  queue_closed: "transfer.queueClosed",
  language_not_served: "transfer.languageNotServed",
  adviser_not_found: "transfer.adviserNotFound",
  adviser_unavailable: "transfer.adviserUnavailable",
  transfer_to_self: "transfer.toSelf",
};

/** Why ``call:transfer_failed`` gave the call back; any other reason: the colleague left. */
const FAILED: Record<string, StaffKey> = {
  declined: "transfer.declined",
  ring_timeout: "transfer.notAnswered",
};

interface Colleague {
  adviser_id: string;
  display_name: string;
}

/**
 * "Transfer": pass the call to a queue (the visitor waits first there) or to a colleague who is
 * free now (rung; the adviser stays in the call until they accept, and gets it back on a refusal).
 * The server's ``call:transferred`` closes the call here (``Desk``); ``call:transfer_failed``
 * comes back through :meth:`failed`.
 */
export class TransferControl {
  readonly button: HTMLButtonElement;
  readonly el: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly note: HTMLInputElement;
  private readonly submit: HTMLButtonElement;
  private readonly status: HTMLParagraphElement;

  constructor(
    private readonly socket: AdviserSocket,
    private readonly queues: () => QueueRecord[],
  ) {
    this.button = h("button", { type: "button", class: "btn", "aria-expanded": "false", "data-part": "transfer" }, t("transfer.transfer"));
    this.button.addEventListener("click", () => void this.open());
    this.select = h("select", { id: "transfer-to", required: true });
    this.note = h("input", { id: "transfer-note", type: "text", maxlength: "500", autocomplete: "off" });
    this.submit = h("button", { type: "submit", class: "btn primary" }, t("transfer.send"));
    const cancel = h("button", { type: "button", class: "btn" }, t("transfer.cancel"));
    cancel.addEventListener("click", () => this.close());
    const form = h(
      "form",
      { class: "transfer-form", "aria-labelledby": "transfer-title" },
      h("h3", { id: "transfer-title" }, t("transfer.title")),
      h("label", { for: "transfer-to" }, t("transfer.to")),
      this.select,
      h("label", { for: "transfer-note" }, t("transfer.note")),
      this.note,
      h("div", { class: "row" }, this.submit, cancel),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.status = h("p", { class: "transfer-state", role: "status", hidden: true, "data-part": "transfer-state" });
    this.el = h("div", { class: "transfer", hidden: true, "data-part": "transfer-panel" }, form);
  }

  /** The status line (shown under the call controls). */
  get statusLine(): HTMLElement {
    return this.status;
  }

  /** ``call:transfer_failed``: the call is this adviser's again. */
  failed(reason: string): void {
    this.button.disabled = false;
    this.show(t(FAILED[reason] ?? "transfer.colleagueLeft"));
  }

  private async open(): Promise<void> {
    const ack = await this.socket.request<{ advisers: Colleague[] }>("transfer:targets");
    const colleagues = ack.ok ? ack.advisers : [];
    const queues = h("optgroup", { label: t("transfer.queuesGroup") });
    for (const queue of this.queues()) queues.append(h("option", { value: `queue:${queue.id}` }, queue.name));
    const people = h("optgroup", { label: t("transfer.colleaguesGroup") });
    for (const colleague of colleagues) {
      people.append(h("option", { value: `adviser:${colleague.adviser_id}` }, colleague.display_name || colleague.adviser_id));
    }
    if (colleagues.length === 0) people.append(h("option", { disabled: true }, t("transfer.noColleagues")));
    this.select.replaceChildren(queues, people);
    this.el.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.select.focus();
  }

  private close(): void {
    this.el.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  private async send(): Promise<void> {
    const [kind, id] = this.select.value.split(":");
    if (!id) return;
    const note = this.note.value.trim();
    const target = kind === "queue" ? { queue_id: id } : { adviser_id: id };
    this.submit.disabled = true;
    const ack = await this.socket.request<{ to: string }>("call:transfer", { ...target, ...(note ? { note } : {}) });
    this.submit.disabled = false;
    if (!ack.ok) {
      const key = ERRORS[ack.error.code];
      this.show(key ? t(key) : errorText(ack.error.code, ack.error.message));
      return;
    }
    this.close();
    this.note.value = "";
    if (ack.to === "adviser") {
      this.button.disabled = true; // until it is accepted (the call goes) or comes back
      this.show(t("transfer.ringing", { name: this.select.selectedOptions[0]?.textContent ?? "" }));
    }
  }

  private show(text: string): void {
    this.status.textContent = text;
    this.status.hidden = false;
  }
}
