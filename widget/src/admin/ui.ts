/** What the admin sections share: messages, tables, buttons and formatting. */
import { h, replace, type Child } from "../shared/dom";
import { explain } from "./api";
import { formatDateTime, t } from "../staff/texts";

/** A message line for one section: errors are announced (role=alert), successes politely. */
export class Message {
  readonly el = h("p", { class: "message", hidden: true });

  error(error: unknown): void {
    this.el.className = "message error";
    this.el.setAttribute("role", "alert");
    this.el.textContent = explain(error);
    this.el.hidden = false;
  }

  ok(text: string): void {
    this.el.className = "message ok";
    this.el.setAttribute("role", "status");
    this.el.textContent = text;
    this.el.hidden = false;
  }

  clear(): void {
    this.el.hidden = true;
    this.el.textContent = "";
  }
}

export function button(label: string, onclick: () => void, props: Record<string, string> = {}): HTMLButtonElement {
  const element = h("button", { type: "button", class: "btn small", ...props }, label);
  element.addEventListener("click", onclick);
  return element;
}

/** A table with a caption (for screen readers) and one row per item. */
export function table(caption: string, headings: string[], rows: HTMLTableRowElement[], empty: string): HTMLElement {
  const body = h("tbody", {});
  if (rows.length === 0) {
    body.append(h("tr", {}, h("td", { colspan: headings.length, class: "empty" }, empty)));
  } else {
    body.append(...rows);
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "sr" }, caption),
      h("thead", {}, h("tr", {}, ...headings.map((text) => h("th", { scope: "col" }, text)))),
      body,
    ),
  );
}

export function row(...cells: Child[]): HTMLTableRowElement {
  return h("tr", {}, ...cells.map((cell) => h("td", {}, cell)));
}

export function section(title: string, intro: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "card", "aria-labelledby": `${slug(title)}-title` }, h("h2", { id: `${slug(title)}-title` }, title), intro ? h("p", { class: "muted" }, intro) : null, ...children);
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

/** Run ``work`` with ``control`` disabled, reporting a failure to ``message``. */
export async function busy(control: HTMLButtonElement | null, message: Message, work: () => Promise<void>): Promise<void> {
  if (control) control.disabled = true;
  message.clear();
  try {
    await work();
  } catch (error) {
    message.error(error);
  } finally {
    if (control) control.disabled = false;
  }
}

export function when(iso: string | null): string {
  return iso ? formatDateTime(iso) : "—";
}

export function day(iso: string | null): string {
  return iso ? formatDateTime(iso, { dateStyle: "medium" }) : "—";
}

export function seconds(value: number | null): string {
  if (value === null) return "—";
  if (value < 60) return `${Math.round(value)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value - minutes * 60)} s`;
}

export function size(bytes: number | null): string {
  if (bytes === null) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A page region that shows t("app.loading") and then ``render``'s output, or the error. */
export async function load(region: HTMLElement, message: Message, render: () => Promise<Child>): Promise<void> {
  replace(region, h("p", { class: "muted" }, t("app.loading")));
  try {
    replace(region, await render());
  } catch (error) {
    replace(region);
    message.error(error);
  }
}
