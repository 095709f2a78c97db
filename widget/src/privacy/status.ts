import { copyText, h, replace } from "../shared/dom";
import { downloadExport, PrivacyApiError, requestStatus, type RequestStatus } from "./api";
import { describeError } from "./errors";
import type { PrivacyTexts } from "./texts";

const FIRST_POLL_MS = 2_000;
const MAX_POLL_MS = 15_000;
const FINAL = new Set(["done", "not_found", "failed"]);

/**
 * One request followed live: its number and secret (with the "keep this" note when just made),
 * the status (polled until it is final), and the download once an export is ready.
 * Nothing is written to the browser's storage.
 */
export class StatusView {
  readonly element: HTMLElement;
  // Only the status sentence is live: the "last checked" time changes on every poll.
  private readonly statusText = h("p", { class: "status-text", role: "status", "aria-live": "polite" });
  private readonly checked = h("p", { class: "help" });
  private readonly extra = h("div", { class: "status-extra" });
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delay = FIRST_POLL_MS;
  private stopped = false;
  private exportBlob: Blob | null = null;

  constructor(
    private readonly t: PrivacyTexts,
    private readonly requestId: string,
    private readonly secret: string,
    fresh: boolean,
    onStartOver: () => void,
  ) {
    this.element = h(
      "section",
      { class: "card status-card", "aria-labelledby": "status-title", "data-part": "status" },
      h("h2", { id: "status-title", tabindex: "-1" }, fresh ? t.receivedTitle : t.checkTitle),
      fresh ? h("p", { class: "keep", role: "note" }, h("strong", {}, "⚠ "), t.keepNote) : null,
      h(
        "dl",
        { class: "secrets" },
        this.secretRow(t.requestIdLabel, requestId, "request-id"),
        this.secretRow(t.secretLabel, secret, "secret"),
      ),
      h(
        "div",
        { class: "status-box" },
        h("h3", {}, t.statusLabel),
        this.statusText,
        this.extra,
        this.checked,
      ),
      h("div", { class: "actions" }, h("button", { type: "button", class: "btn", onclick: onStartOver }, t.startOver)),
    );
    this.statusText.textContent = "…";
  }

  private secretRow(label: string, value: string, part: string): HTMLElement {
    const copy = h("button", { type: "button", class: "btn small", "aria-label": `${this.t.copy}: ${label}` }, this.t.copy);
    copy.addEventListener("click", () => {
      void copyText(value).then((ok) => {
        if (ok) copy.textContent = this.t.copied;
      });
    });
    return h("div", { class: "secret-row" }, h("dt", {}, label), h("dd", {}, h("code", { class: "mono", "data-part": part }, value), " ", copy));
  }

  /** Focus the heading (for screen readers) and start polling. */
  start(): void {
    this.element.querySelector<HTMLElement>("#status-title")?.focus();
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      const status = await requestStatus(this.requestId, this.secret);
      if (this.stopped) return;
      this.show(status);
      if (FINAL.has(status.status)) return;
      this.delay = Math.min(MAX_POLL_MS, Math.round(this.delay * 1.5));
    } catch (error) {
      if (this.stopped) return;
      const refused = error instanceof PrivacyApiError ? error : new PrivacyApiError(0, "unreachable", "");
      this.statusText.textContent = describeError(this.t, refused);
      this.statusText.dataset["state"] = "error";
      // Unknown id or wrong secret will not change by asking again; the rest may pass.
      if (refused.status === 404) return;
      this.delay = Math.min(MAX_POLL_MS, this.delay * 2);
    }
    this.timer = setTimeout(() => void this.poll(), this.delay);
  }

  private show(status: RequestStatus): void {
    const t = this.t;
    this.statusText.dataset["state"] = status.status;
    this.element.dataset["status"] = status.status;
    let text: string;
    if (status.status === "done") text = status.kind === "export" ? t.doneExport : t.doneErase;
    else text = t.statuses[status.status];
    const sentence = `${t.kindNames[status.kind]}: ${text}`;
    // Unchanged text is not set again, so screen readers do not repeat it on every poll.
    if (this.statusText.textContent !== sentence) this.statusText.textContent = sentence;
    this.checked.textContent = `${t.checkedAt}: ${new Date().toLocaleTimeString(t.lang)}`;
    if (status.status === "done" && status.kind === "export") this.showDownload(status);
    else replace(this.extra);
  }

  private showDownload(status: RequestStatus): void {
    const t = this.t;
    const expires = status.export ? new Date(status.export.expires_at) : null;
    if (!expires || expires.getTime() <= Date.now()) {
      replace(this.extra, h("p", { class: "problem" }, t.expired));
      return;
    }
    if (this.extra.querySelector("button")) return; // already offered; keep the button's state
    const button = h("button", { type: "button", class: "btn primary", "data-part": "download" }, t.download);
    const problem = h("p", { class: "problem", role: "alert" });
    const size = status.export ? ` · ${formatBytes(status.export.bytes)}` : "";
    button.addEventListener("click", () => {
      button.disabled = true;
      button.textContent = t.downloading;
      problem.textContent = "";
      const blob = this.exportBlob ? Promise.resolve(this.exportBlob) : downloadExport(this.requestId, this.secret);
      blob.then(
        (archive) => {
          this.exportBlob = archive;
          saveBlob(archive, `loket-export-${this.requestId.slice(0, 8)}.zip`);
          button.disabled = false;
          button.textContent = t.download;
        },
        (error: unknown) => {
          button.disabled = false;
          button.textContent = t.download;
          problem.textContent =
            error instanceof PrivacyApiError ? describeError(t, error) : `${t.somethingWrong} ${String(error)}`;
        },
      );
    });
    replace(
      this.extra,
      h("p", {}, button),
      h("p", { class: "help" }, `${t.availableUntil} ${expires.toLocaleString(t.lang)}${size}`),
      problem,
    );
  }
}

/** Hand a Blob to the browser as a download, then let go of it. */
function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
