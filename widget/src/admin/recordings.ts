import { h, replace } from "../shared/dom";
import type { Recording } from "./api";
import type { Context } from "./context";
import { busy, button, day, Message, row, seconds, section, size, table, when } from "./ui";

const PAGE = 25;

/** Recordings: the list, playback through a short-lived link (audited), legal hold. */
export function recordingsSection(ctx: Context): HTMLElement {
  const message = new Message();
  const player = h("div", { class: "player", hidden: true });
  const list = h("div", {});
  const more = h("button", { type: "button", class: "btn", hidden: true }, "Older recordings");
  const search = h("input", { type: "search", placeholder: "Reference code", "aria-label": "Filter by reference code" });
  const canHold = ctx.role === "admin" || ctx.role === "dpo";
  let shown: Recording[] = [];

  const render = (): void => {
    replace(
      list,
      table(
        "Recordings",
        ["Recorded", "Reference", "Who", "Status", "Length", "Size", "Deleted after", "Legal hold", ""],
        shown.map((recording) => recordingRow(recording)),
        "No recordings.",
      ),
    );
  };
  const fetchPage = async (before?: string): Promise<Recording[]> => {
    const reference = search.value.trim();
    return ctx.api.get<Recording[]>("/recordings", {
      limit: String(PAGE),
      before,
      reference: reference || undefined,
    });
  };
  const reload = (): Promise<void> =>
    busy(null, message, async () => {
      shown = await fetchPage();
      more.hidden = shown.length < PAGE;
      render();
    });
  more.addEventListener("click", () => {
    void busy(more, message, async () => {
      const page = await fetchPage(shown[shown.length - 1]?.created_at);
      shown = [...shown, ...page];
      more.hidden = page.length < PAGE;
      render();
    });
  });

  const play = async (recording: Recording, control: HTMLButtonElement): Promise<void> => {
    await busy(control, message, async () => {
      const link = await ctx.api.post<{ url: string; expires_at: string }>(`/recordings/${recording.id}/link`);
      const video = h("video", { controls: true, preload: "auto", src: link.url, "aria-label": `Recording of call ${recording.reference}` });
      replace(
        player,
        h(
          "div",
          { class: "player-head" },
          h("h3", {}, `Call ${recording.reference} — ${recording.participant}`),
          button("Close", () => {
            video.pause();
            video.removeAttribute("src");
            video.load();
            player.hidden = true;
            control.focus();
          }),
        ),
        video,
        h("p", { class: "help" }, `This link works until ${when(link.expires_at)}. Playback is recorded in the audit log.`),
      );
      player.hidden = false;
      video.focus();
      void video.play().catch(() => undefined);
    });
  };

  const recordingRow = (recording: Recording): HTMLTableRowElement => {
    const playButton = button("Play", () => void play(recording, playButton), {
      "aria-label": `Play recording of call ${recording.reference} (${recording.participant})`,
    });
    playButton.disabled = !recording.playable;
    let hold: HTMLElement = h("span", {}, recording.legal_hold ? "On" : "Off");
    if (canHold) {
      const box = h("input", { type: "checkbox", "aria-label": `Legal hold on recording of call ${recording.reference}` });
      box.checked = recording.legal_hold;
      box.addEventListener("change", () => {
        void busy(null, message, async () => {
          try {
            const changed = await ctx.api.patch<Recording>(`/recordings/${recording.id}`, { legal_hold: box.checked });
            Object.assign(recording, changed);
            message.ok(changed.legal_hold ? `Recording of ${recording.reference} is on legal hold: it will not be deleted.` : `Legal hold released on ${recording.reference}.`);
          } catch (error) {
            box.checked = recording.legal_hold;
            throw error;
          }
        });
      });
      hold = box;
    }
    const tr = row(
      when(recording.created_at),
      h("code", { class: "mono" }, recording.reference),
      recording.participant,
      recording.status,
      seconds(recording.duration_seconds),
      size(recording.bytes),
      recording.legal_hold ? "on hold" : day(recording.delete_after),
      hold,
      playButton,
    );
    tr.dataset["recording"] = recording.id;
    return tr;
  };

  const filter = h("form", { class: "filters", role: "search" }, search, h("button", { type: "submit", class: "btn small" }, "Filter"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    void reload();
  });
  void reload();
  return section(
    "Recordings",
    "Recordings are encrypted at rest. Playing one makes a link valid for five minutes; each playback is audited.",
    message.el,
    filter,
    player,
    list,
    more,
  );
}
