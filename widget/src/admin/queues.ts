import { field, h, replace } from "../shared/dom";
import type { Queue } from "./api";
import { type Context, isAdmin } from "./context";
import { DAYS, formatDay, parseWeek } from "./hours";
import { busy, button, load, Message, row, section, table } from "./ui";
import { t } from "../staff/texts";

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
        t("nav.queues"),
        [t("queues.name"), t("queues.languages"), t("queues.openingHours"), t("queues.maxWait"), t("call.recording"), t("queues.transcription"), ""],
        queues.map((queue) =>
          row(
            h("strong", {}, queue.name),
            queue.languages.join(", ") || t("queues.anyLanguage"),
            hoursSummary(queue),
            queue.max_wait_seconds === null ? t("queues.noLimit") : t("queues.minutes", { n: Math.round((queue.max_wait_seconds / 60) * 10) / 10 }),
            queue.recording_policy === "ask" ? t("queues.asksForConsent") : t("queues.off"),
            queue.transcription ? t("queues.on") : t("queues.off"),
            isAdmin(ctx)
              ? h(
                  "span",
                  { class: "row-actions" },
                  button(t("queues.edit"), () => edit(queue), { "aria-label": t("queues.editQueue", { name: queue.name }) }),
                  button(t("queues.delete"), () => void remove(queue), { "aria-label": t("queues.deleteQueue", { name: queue.name }), class: "btn small danger-outline" }),
                )
              : null,
          ),
        ),
        t("queues.noQueuesYet"),
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
    if (!confirm(t("queues.deleteTheQueueVisitors", { name: queue.name }))) return;
    await busy(null, message, async () => {
      await ctx.api.delete(`/queues/${queue.id}`);
      message.ok(t("queues.queueDeleted", { name: queue.name }));
      await refresh();
    });
  };
  const newButton = h("button", { type: "button", class: "btn primary" }, t("queues.newQueue"));
  newButton.addEventListener("click", () => edit(null));
  if (isAdmin(ctx)) editor.append(newButton);
  void refresh();
  return section(
    t("nav.queues"),
    isAdmin(ctx) ? t("queues.whereVisitorsWaitEach") : t("queues.whereVisitorsWaitRead"),
    message.el,
    list,
    editor,
  );
}

function hoursSummary(queue: Queue): string {
  const count = queue.closing_days.length;
  const closed = count ? `; ${count === 1 ? t("queues.closingDayOne") : t("queues.closingDaysCount", { n: count })}` : "";
  if (!queue.opening_hours) return `${t("queues.alwaysOpen", { timezone: queue.timezone })}${closed}`;
  const days = DAYS().filter(([key]) => queue.opening_hours?.[key]?.length).map(
    ([key, label]) => `${label.slice(0, 3)} ${formatDay(queue.opening_hours?.[key])}`,
  );
  return `${days.join("; ") || t("queues.closed")} (${queue.timezone})${closed}`;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** One ISO date per line (commas too); throws naming the line that is not one. */
function parseClosingDays(text: string): string[] {
  const days = text.split(/[\s,]+/).map((line) => line.trim()).filter(Boolean);
  for (const line of days) {
    if (!DATE.test(line) || Number.isNaN(Date.parse(`${line}T00:00:00Z`))) throw new Error(t("queues.closingDaysError", { line }));
  }
  return [...new Set(days)].sort();
}

/** Minutes as typed, to whole seconds; empty is no limit. */
function parseMaxWait(text: string): number | null {
  if (!text.trim()) return null;
  const minutes = Number(text);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 1440) throw new Error(t("queues.maxWaitError"));
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
    h("option", { value: "off" }, t("queues.offNeverRecord")),
    h("option", { value: "ask" }, t("queues.askRecordOnlyWith")),
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
    h("legend", {}, t("queues.openingHours")),
    ...DAYS().map(([key, label]) => {
      const input = h("input", { name: `hours-${key}`, placeholder: t("queues.closedPlaceholder"), "aria-label": t("queues.openingHours2", { label }) });
      input.value = formatDay(queue?.opening_hours?.[key]);
      dayInputs[key] = input;
      return h("label", { class: "day" }, h("span", {}, label), input);
    }),
    h("p", { class: "help" }, t("queues.timesLike0900")),
  );
  const closingDays = h("textarea", { name: "closing_days", rows: 3, placeholder: "2026-12-25" });
  closingDays.value = (queue?.closing_days ?? []).join("\n");
  const maxWait = h("input", { name: "max_wait", type: "number", min: 1, max: 1440, step: "any", placeholder: t("queues.noLimit") });
  maxWait.value = queue?.max_wait_seconds ? String(Math.round((queue.max_wait_seconds / 60) * 100) / 100) : "";
  const syncHours = (): void => {
    week.hidden = alwaysOpen.checked;
  };
  alwaysOpen.addEventListener("change", syncHours);
  syncHours();
  const save = h("button", { type: "submit", class: "btn primary" }, queue ? t("queues.saveQueue") : t("queues.createQueue"));
  const form = h(
    "form",
    { class: "editor", "aria-label": queue ? t("queues.editQueue", { name: queue.name }) : t("queues.newQueue") },
    h("h3", {}, queue ? t("queues.edit2", { name: queue.name }) : t("queues.newQueue")),
    h(
      "div",
      { class: "grid2" },
      field(t("queues.name"), name),
      field(t("queues.languages"), languages, t("queues.twoLetterCodesSeparated")),
      field(t("queues.timeZone"), timezone),
      field(t("call.recording"), policy),
    ),
    zones,
    h("label", { class: "check" }, transcription, ` ${t("queues.transcribeRecordings")}`),
    h("label", { class: "check" }, alwaysOpen, ` ${t("queues.alwaysOpenCheck")}`),
    week,
    h("div", { class: "grid2" }, field(t("queues.closingDays"), closingDays, t("queues.closingDaysHelp")), field(t("queues.maxWaitMinutes"), maxWait, t("queues.maxWaitHelp"))),
    h("div", { class: "actions" }, save, button(t("queues.cancel"), done)),
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
      message.ok(queue ? t("queues.queueSaved", { name: payload.name }) : t("queues.queueCreated", { name: payload.name }));
      done();
    });
  });
  return form;
}
