import { field, h, replace } from "../shared/dom";
import type { Queue } from "./api";
import { type Context, isAdmin } from "./context";
import { DAYS, formatDay, parseWeek } from "./hours";
import { QUEUE_CONSENT_TEXTS } from "./queue_consent_texts";
import { busy, button, load, Message, row, section, table } from "./ui";

const T = QUEUE_CONSENT_TEXTS.queues;

const ZONES: string[] =
  (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.("timeZone") ?? [
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Brussels",
    "Europe/Paris",
    "Europe/London",
    "UTC",
  ];

/** Queues: name, languages, opening hours and time zone, recording policy, transcription. */
export function queuesSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", {});
  const editor = h("div", {});
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const queues = await ctx.api.get<Queue[]>("/queues");
      return table(
        "Queues",
        ["Name", "Languages", "Opening hours", T.maxWaitHeading, "Recording", "Transcription", ""],
        queues.map((queue) =>
          row(
            h("strong", {}, queue.name),
            queue.languages.join(", ") || "any",
            hoursSummary(queue),
            queue.max_wait_seconds === null ? T.noLimit : T.minutes(Math.round((queue.max_wait_seconds / 60) * 10) / 10),
            queue.recording_policy === "ask" ? "Asks for consent" : "Off",
            queue.transcription ? "On" : "Off",
            isAdmin(ctx)
              ? h(
                  "span",
                  { class: "row-actions" },
                  button("Edit", () => edit(queue), { "aria-label": `Edit queue ${queue.name}` }),
                  button("Delete", () => void remove(queue), { "aria-label": `Delete queue ${queue.name}`, class: "btn small danger-outline" }),
                )
              : null,
          ),
        ),
        "No queues yet.",
      );
    });
  const edit = (queue: Queue | null): void => {
    replace(editor, queueForm(ctx, queue, message, () => {
      replace(editor, isAdmin(ctx) ? newButton : null);
      void refresh();
    }));
    editor.querySelector("input")?.focus();
  };
  const remove = async (queue: Queue): Promise<void> => {
    if (!confirm(`Delete the queue "${queue.name}"? Visitors can no longer choose it.`)) return;
    await busy(null, message, async () => {
      await ctx.api.delete(`/queues/${queue.id}`);
      message.ok(`Queue "${queue.name}" deleted.`);
      await refresh();
    });
  };
  const newButton = h("button", { type: "button", class: "btn primary" }, "New queue");
  newButton.addEventListener("click", () => edit(null));
  if (isAdmin(ctx)) editor.append(newButton);
  void refresh();
  return section(
    "Queues",
    isAdmin(ctx) ? "Where visitors wait. Each queue has its languages, opening hours and recording policy." : "Where visitors wait (read only for your role).",
    message.el,
    list,
    editor,
  );
}

function hoursSummary(queue: Queue): string {
  const closed = queue.closing_days.length ? `; ${T.closingDaysCount(queue.closing_days.length)}` : "";
  if (!queue.opening_hours) return `Always open (${queue.timezone})${closed}`;
  const days = DAYS.filter(([key]) => queue.opening_hours?.[key]?.length).map(
    ([key, label]) => `${label.slice(0, 3)} ${formatDay(queue.opening_hours?.[key])}`,
  );
  return `${days.join("; ") || "Closed"} (${queue.timezone})${closed}`;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** One ISO date per line (commas too); throws naming the line that is not one. */
function parseClosingDays(text: string): string[] {
  const days = text.split(/[\s,]+/).map((line) => line.trim()).filter(Boolean);
  for (const line of days) {
    if (!DATE.test(line) || Number.isNaN(Date.parse(`${line}T00:00:00Z`))) throw new Error(T.closingDaysError(line));
  }
  return [...new Set(days)].sort();
}

/** Minutes as typed, to whole seconds; empty is no limit. */
function parseMaxWait(text: string): number | null {
  if (!text.trim()) return null;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 1440) throw new Error(T.maxWaitError);
  return Math.max(1, Math.round(minutes * 60));
}

function queueForm(ctx: Context, queue: Queue | null, message: Message, done: () => void): HTMLElement {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  name.value = queue?.name ?? "";
  const languages = h("input", { name: "languages", placeholder: "nl, en" });
  languages.value = (queue?.languages ?? []).join(", ");
  const timezone = h("input", { name: "timezone", list: "zones" });
  timezone.value = queue?.timezone ?? "Europe/Amsterdam";
  const zones = h("datalist", { id: "zones" }, ...ZONES.map((zone) => h("option", { value: zone })));
  const policy = h(
    "select",
    { name: "recording_policy" },
    h("option", { value: "off" }, "Off: never record"),
    h("option", { value: "ask" }, "Ask: record only with the visitor's consent"),
  );
  policy.value = queue?.recording_policy ?? "off";
  const transcription = h("input", { type: "checkbox", name: "transcription" });
  transcription.checked = queue?.transcription ?? false;
  const alwaysOpen = h("input", { type: "checkbox", name: "always_open" });
  alwaysOpen.checked = !queue || queue.opening_hours === null;
  const dayInputs: Record<string, HTMLInputElement> = {};
  const week = h(
    "fieldset",
    { class: "hours" },
    h("legend", {}, "Opening hours"),
    ...DAYS.map(([key, label]) => {
      const input = h("input", { name: `hours-${key}`, placeholder: "closed", "aria-label": `${label} opening hours` });
      input.value = formatDay(queue?.opening_hours?.[key]);
      dayInputs[key] = input;
      return h("label", { class: "day" }, h("span", {}, label), input);
    }),
    h("p", { class: "help" }, "Times like 09:00-12:30, 13:30-17:30 in the queue's time zone; empty is closed."),
  );
  const closingDays = h("textarea", { name: "closing_days", rows: 3, placeholder: "2026-12-25" });
  closingDays.value = (queue?.closing_days ?? []).join("\n");
  const maxWait = h("input", { name: "max_wait", type: "number", min: 1, max: 1440, step: "any", placeholder: T.noLimit });
  maxWait.value = queue?.max_wait_seconds ? String(Math.round((queue.max_wait_seconds / 60) * 100) / 100) : "";
  const syncHours = (): void => {
    week.hidden = alwaysOpen.checked;
  };
  alwaysOpen.addEventListener("change", syncHours);
  syncHours();
  const save = h("button", { type: "submit", class: "btn primary" }, queue ? "Save queue" : "Create queue");
  const form = h(
    "form",
    { class: "editor", "aria-label": queue ? `Edit queue ${queue.name}` : "New queue" },
    h("h3", {}, queue ? `Edit “${queue.name}”` : "New queue"),
    h(
      "div",
      { class: "grid2" },
      field("Name", name),
      field("Languages", languages, "Two-letter codes, separated by commas; empty means any language."),
      field("Time zone", timezone),
      field("Recording", policy),
    ),
    zones,
    h("label", { class: "check" }, transcription, " Transcribe recordings (speech to text)"),
    h("label", { class: "check" }, alwaysOpen, " Always open"),
    week,
    h("div", { class: "grid2" }, field(T.closingDaysLabel, closingDays, T.closingDaysHelp), field(T.maxWaitLabel, maxWait, T.maxWaitHelp)),
    h("div", { class: "actions" }, save, button("Cancel", done)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      const texts: Record<string, string> = {};
      for (const [key, input] of Object.entries(dayInputs)) texts[key] = input.value;
      const payload = {
        name: name.value.trim(),
        languages: languages.value.split(/[\s,]+/).map((code) => code.trim().toLowerCase()).filter(Boolean),
        timezone: timezone.value.trim(),
        recording_policy: policy.value,
        transcription: transcription.checked,
        opening_hours: alwaysOpen.checked ? null : parseWeek(texts),
        closing_days: parseClosingDays(closingDays.value),
        max_wait_seconds: parseMaxWait(maxWait.value),
      };
      if (queue) await ctx.api.patch<Queue>(`/queues/${queue.id}`, payload);
      else await ctx.api.post<Queue>("/queues", payload);
      message.ok(queue ? `Queue "${payload.name}" saved.` : `Queue "${payload.name}" created.`);
      done();
    });
  });
  return form;
}
