import type { DeviceProblem, LocalMedia } from "../../shared/devices";
import { h, uid, videoElement } from "../../shared/dom";
import type { Language } from "../../shared/i18n";
import type { ConsentText, QueueInfo, WidgetSession } from "../../shared/wire";
import { type Catalogue, formatOpening, LANGUAGE_NAMES } from "../i18n";
import type { View } from "./panel";

export interface Choice {
  queue: QueueInfo;
  language: string | null;
  /** Set when the queue records: the text shown and the visitor's answer. */
  consent: { text: ConsentText; granted: boolean } | null;
}

export interface PrecallHandlers {
  join(choice: Choice): void;
  retryDevices(): void;
}

/**
 * Before the call: the camera preview (or why there is none), the queue and language, and
 * the recording consent when the chosen queue records.
 */
export class PrecallView implements View {
  readonly el: HTMLElement;
  readonly focus: HTMLElement;
  private readonly video: HTMLVideoElement;
  private readonly overlay: HTMLDivElement;
  private readonly deviceNotice: HTMLDivElement;
  private readonly closedNotice: HTMLDivElement;
  private readonly joinError: HTMLDivElement;
  private readonly languageField: HTMLLabelElement;
  private readonly languageSelect: HTMLSelectElement;
  private readonly consentBox: HTMLDivElement;
  private readonly consentText: HTMLParagraphElement;
  private readonly consentCheck: HTMLInputElement;
  private readonly start: HTMLButtonElement;
  private queue: QueueInfo;
  private busy = false;

  constructor(
    private readonly t: Catalogue,
    private readonly uiLanguage: Language,
    private readonly session: WidgetSession,
    private readonly handlers: PrecallHandlers,
  ) {
    const queues = [...session.queues].sort((a, b) => Number(b.open) - Number(a.open));
    const first = queues[0];
    if (!first) throw new Error("no queues");
    this.queue = first;

    this.focus = h("h3", { tabindex: "-1" }, t.precallTitle);
    this.video = videoElement("", t.preview, true);
    this.overlay = h("div", { class: "overlay" }, t.devicesStarting);
    this.deviceNotice = h("div", { class: "notice", role: "alert", hidden: true });
    this.closedNotice = h("div", { class: "notice", hidden: true, "data-part": "closed" });
    this.joinError = h("div", { class: "notice error", role: "alert", hidden: true });

    const queueId = uid("queue");
    const queueField =
      queues.length > 1
        ? h(
            "label",
            { class: "field", for: queueId },
            t.queue,
            h(
              "select",
              { id: queueId, onchange: (event: Event) => this.pickQueue((event.target as HTMLSelectElement).value) },
              ...queues.map((q) => h("option", { value: q.id }, q.open ? q.name : `${q.name} (${t.closedTag})`)),
            ),
          )
        : h("div", { class: "field" }, t.queue, h("span", { class: "value" }, first.name));

    const languageId = uid("language");
    this.languageSelect = h("select", { id: languageId, onchange: () => this.refresh() });
    this.languageField = h("label", { class: "field", for: languageId }, t.language, this.languageSelect);

    const checkId = uid("consent");
    this.consentCheck = h("input", { type: "checkbox", id: checkId });
    this.consentText = h("p", { class: "text", tabindex: "0" });
    this.consentBox = h(
      "div",
      { class: "consent", "data-part": "consent", hidden: true },
      h("h4", {}, t.consentTitle),
      this.consentText,
      h("label", { class: "check", for: checkId }, this.consentCheck, h("span", {}, t.consentCheckbox)),
    );

    this.start = h("button", { type: "button", class: "btn primary block", onclick: () => this.submit() }, t.start);

    this.el = h(
      "div",
      {},
      this.focus,
      h("p", { class: "muted" }, t.intro),
      h("div", { class: "preview" }, this.video, this.overlay),
      this.deviceNotice,
      h("div", { class: "fields" }, queueField, this.languageField),
      this.closedNotice,
      this.consentBox,
      this.joinError,
      this.start,
    );
    this.pickQueue(first.id);
  }

  setMedia(media: LocalMedia): void {
    const hasVideo = Boolean(media.stream?.getVideoTracks().length);
    this.video.srcObject = media.stream;
    this.overlay.hidden = hasVideo;
    this.overlay.textContent = hasVideo ? "" : this.t.noPicture;
    const problem = media.problem;
    this.deviceNotice.hidden = problem === null;
    this.deviceNotice.replaceChildren();
    if (problem !== null) {
      this.deviceNotice.className = problem === "denied" || problem === "busy" ? "notice error" : "notice";
      this.deviceNotice.append(this.problemText(problem));
      if (problem === "denied" || problem === "busy") {
        this.deviceNotice.append(
          h("br"),
          h("button", { type: "button", class: "btn secondary", onclick: () => this.handlers.retryDevices() }, this.t.retry),
        );
      }
    }
  }

  setBusy(busy: boolean, error: string | null = null): void {
    this.busy = busy;
    this.start.textContent = busy ? this.t.joining : this.t.start;
    this.joinError.hidden = error === null;
    this.joinError.textContent = error ?? "";
    this.refresh();
  }

  private problemText(problem: DeviceProblem): string {
    return this.t[problem];
  }

  private pickQueue(id: string): void {
    this.queue = this.session.queues.find((q) => q.id === id) ?? this.queue;
    const languages = this.queue.languages;
    const current = this.languageSelect.value;
    const preferred = [current, this.uiLanguage].find((l) => l && languages.includes(l)) ?? languages[0] ?? "";
    this.languageSelect.replaceChildren(
      ...languages.map((l) => h("option", { value: l }, LANGUAGE_NAMES[l] ?? l.toUpperCase())),
    );
    this.languageSelect.value = preferred;
    this.languageField.hidden = languages.length < 2;
    this.refresh();
  }

  private consentTextFor(language: string | null): ConsentText | null {
    const texts = this.session.consent_texts;
    return (
      texts.find((c) => c.language === language) ??
      texts.find((c) => c.language === this.uiLanguage) ??
      texts.find((c) => c.language === "en") ??
      texts[0] ??
      null
    );
  }

  private language(): string | null {
    return this.languageSelect.value || null;
  }

  private refresh(): void {
    const queue = this.queue;
    this.closedNotice.hidden = queue.open;
    this.closedNotice.textContent = queue.open
      ? ""
      : queue.opens_at
        ? this.t.closedOpens(formatOpening(queue.opens_at, this.uiLanguage, queue.timezone))
        : this.t.closedNow;
    const text = queue.recording_policy === "ask" ? this.consentTextFor(this.language()) : null;
    this.consentBox.hidden = text === null;
    if (text) {
      this.consentText.textContent = text.text;
      this.consentText.lang = text.language;
    }
    this.start.disabled = this.busy || !queue.open;
  }

  private submit(): void {
    if (this.busy || !this.queue.open) return;
    const text = this.queue.recording_policy === "ask" ? this.consentTextFor(this.language()) : null;
    this.handlers.join({
      queue: this.queue,
      language: this.language(),
      consent: text ? { text, granted: this.consentCheck.checked } : null,
    });
  }
}
