import { h, replace } from "../shared/dom";
import type { Recording } from "./api";
import type { Context } from "./context";
import { busy, button, day, Message, row, seconds, section, size, table, when } from "./ui";
import { t } from "../staff/texts";

const PAGE = 25;

/** Recordings: the list, playback through a short-lived link (audited), legal hold. */
export function recordingsSection(ctx: Context): HTMLElement {
  const message = new Message();
  const player = h("div", { class: "player", hidden: true });
  const list = h("div", {});
  const more = h("button", { type: "button", class: "btn", hidden: true }, t("recordings.olderRecordings"));
  const search = h("input", { type: "search", placeholder: t("recordings.referenceCode"), "aria-label": t("recordings.filterByReferenceCode") });
  const canHold = ctx.role === "admin" || ctx.role === "dpo";
  let shown: Recording[] = [];

  const render = (): void => {
    replace(
      list,
      table(
        t("nav.recordings"),
        [t("recordings.recorded"), t("col.reference"), t("audit.who"), t("users.status"), t("col.length"), t("recordings.size"), t("recordings.deletedAfter"), t("recordings.legalHold"), ""],
        shown.map((recording) => recordingRow(recording)),
        t("recordings.noRecordings"),
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
      const video = h("video", { controls: true, preload: "auto", src: link.url, "aria-label": t("recordings.recordingOfCall", { reference: recording.reference }) });
      replace(
        player,
        h(
          "div",
          { class: "player-head" },
          h("h3", {}, t("recordings.call", { reference: recording.reference, participant: recording.participant })),
          button(t("recordings.close"), () => {
            video.pause();
            video.removeAttribute("src");
            video.load();
            player.hidden = true;
            control.focus();
          }),
        ),
        video,
        h("p", { class: "help" }, t("recordings.thisLinkWorksUntil", { expires_at: when(link.expires_at) })),
      );
      player.hidden = false;
      video.focus();
      void video.play().catch(() => undefined);
    });
  };

  const recordingRow = (recording: Recording): HTMLTableRowElement => {
    const playButton = button(t("recordings.play"), () => void play(recording, playButton), {
      "aria-label": t("recordings.playRecordingOfCall", { reference: recording.reference, participant: recording.participant }),
    });
    playButton.disabled = !recording.playable;
    let hold: HTMLElement = h("span", {}, recording.legal_hold ? t("queues.on") : t("queues.off"));
    if (canHold) {
      const box = h("input", { type: "checkbox", "aria-label": t("recordings.legalHoldOnRecording", { reference: recording.reference }) });
      box.checked = recording.legal_hold;
      box.addEventListener("change", () => {
        void busy(null, message, async () => {
          try {
            const changed = await ctx.api.patch<Recording>(`/recordings/${recording.id}`, { legal_hold: box.checked });
            Object.assign(recording, changed);
            message.ok(changed.legal_hold ? t("recordings.recordingOfIsOn", { reference: recording.reference }) : t("recordings.legalHoldReleasedOn", { reference: recording.reference }));
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
      recording.legal_hold ? t("recordings.onHold") : day(recording.delete_after),
      hold,
      playButton,
    );
    tr.dataset["recording"] = recording.id;
    return tr;
  };

  const filter = h("form", { class: "filters", role: "search" }, search, h("button", { type: "submit", class: "btn small" }, t("calls.filter")));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    void reload();
  });
  void reload();
  return section(
    t("nav.recordings"),
    t("recordings.recordingsAreEncryptedAt"),
    message.el,
    filter,
    player,
    list,
    more,
  );
}
