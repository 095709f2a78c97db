import { h, replace } from "../shared/dom";
import type { Organisation, Transcript, TranscriptListed } from "./api";
import type { Context } from "./context";
import { busy, button, day, Message, row, seconds, section, table, when } from "./ui";
import { t } from "../staff/texts";

const PAGE = 25;
const LANGUAGES = (): Record<string, string> => ({ nl: t("transcripts.dutch"), de: t("transcripts.german"), fr: t("transcripts.french"), en: t("transcripts.english") });

/**
 * Transcripts: the organisation's redaction switch, the list (how each transcript was made and
 * is kept, not what was said), reading one (audited), and legal hold. Admins and the DPO change
 * the switch and holds; supervisors see them.
 */
export function transcriptsSection(ctx: Context): HTMLElement {
  const message = new Message();
  const canChange = ctx.role === "admin" || ctx.role === "dpo";
  const switchRegion = h("div", { class: "switch" });
  const reader = h("div", { class: "player", hidden: true });
  const list = h("div", {});
  const more = h("button", { type: "button", class: "btn", hidden: true }, t("transcripts.olderTranscripts"));
  let shown: TranscriptListed[] = [];

  const renderSwitch = (organisation: Organisation): void => {
    const box = h("input", { type: "checkbox", id: "redact-transcripts" });
    box.checked = organisation.redact_transcripts;
    box.disabled = !canChange;
    box.addEventListener("change", () => {
      const wanted = box.checked;
      void busy(null, message, async () => {
        try {
          const changed = await ctx.api.patch<Organisation>("/organisation", { redact_transcripts: wanted });
          renderSwitch(changed);
          message.ok(changed.redact_transcripts ? t("transcripts.newTranscriptsAreRedacted") : t("transcripts.newTranscriptsKeepPersonal"));
        } catch (error) {
          box.checked = organisation.redact_transcripts;
          throw error;
        }
      });
    });
    replace(
      switchRegion,
      h("label", { for: "redact-transcripts" }, box, " ", t("transcripts.redactLabel")),
      h("p", { class: "help" }, canChange ? t("transcripts.appliesToTranscriptsMade") : t("transcripts.onlyAnAdminOr")),
    );
  };

  const read = async (transcript: TranscriptListed, control: HTMLButtonElement): Promise<void> => {
    await busy(control, message, async () => {
      const full = await ctx.api.get<Transcript>(`/transcripts/${transcript.id}`);
      const lines = (full.segments ?? []).map((segment) =>
        h("p", {}, h("span", { class: "muted" }, `${seconds(segment.start)} ${segment.speaker ?? ""}: `), segment.text),
      );
      replace(
        reader,
        h(
          "div",
          { class: "player-head" },
          h("h3", {}, t("transcripts.call", { reference: transcript.reference })),
          button(t("recordings.close"), () => {
            reader.hidden = true;
            replace(reader);
            control.focus();
          }),
        ),
        ...(lines.length ? lines : [h("p", { class: "muted" }, full.error ?? t("transcripts.nothingWasSaid"))]),
        h("p", { class: "help" }, t("transcripts.thisReadingIsRecorded")),
      );
      reader.hidden = false;
    });
  };

  const holdControl = (transcript: TranscriptListed): HTMLElement => {
    if (!canChange) return h("span", {}, transcript.legal_hold ? t("queues.on") : t("queues.off"));
    const box = h("input", { type: "checkbox", "aria-label": t("transcripts.legalHoldOnThe", { reference: transcript.reference }) });
    box.checked = transcript.legal_hold;
    box.addEventListener("change", () => {
      void busy(null, message, async () => {
        try {
          const changed = await ctx.api.patch<Transcript>(`/transcripts/${transcript.id}`, { legal_hold: box.checked });
          transcript.legal_hold = changed.legal_hold;
          message.ok(changed.legal_hold ? t("transcripts.theTranscriptOfIs", { reference: transcript.reference }) : t("transcripts.legalHoldReleasedOn", { reference: transcript.reference }));
          render();
        } catch (error) {
          box.checked = transcript.legal_hold;
          throw error;
        }
      });
    });
    return box;
  };

  const transcriptRow = (transcript: TranscriptListed): HTMLTableRowElement => {
    const readButton = button(t("transcripts.read"), () => void read(transcript, readButton), {
      "aria-label": t("transcripts.readTheTranscriptOf", { reference: transcript.reference }),
    });
    readButton.disabled = transcript.status !== "done";
    const tr = row(
      when(transcript.created_at),
      h("code", { class: "mono" }, transcript.reference),
      transcript.language ? (LANGUAGES()[transcript.language] ?? transcript.language) : "—",
      transcript.model ?? "—",
      transcript.status,
      transcript.redacted ? t("transcripts.yes") : t("transcripts.no"),
      transcript.legal_hold ? t("recordings.onHold") : day(transcript.delete_after),
      holdControl(transcript),
      readButton,
    );
    tr.dataset["transcript"] = transcript.id;
    return tr;
  };

  const render = (): void => {
    replace(
      list,
      table(
        t("nav.transcripts"),
        [t("transcripts.made"), t("col.reference"), t("app.language"), t("transcripts.model"), t("users.status"), t("transcripts.redacted"), t("recordings.deletedAfter"), t("recordings.legalHold"), ""],
        shown.map(transcriptRow),
        t("transcripts.noTranscripts"),
      ),
    );
  };
  const fetchPage = (before?: string): Promise<TranscriptListed[]> => ctx.api.get<TranscriptListed[]>("/transcripts", { limit: String(PAGE), before });
  more.addEventListener("click", () => {
    void busy(more, message, async () => {
      const page = await fetchPage(shown[shown.length - 1]?.created_at);
      shown = [...shown, ...page];
      more.hidden = page.length < PAGE;
      render();
    });
  });
  void busy(null, message, async () => {
    const [organisation, page] = await Promise.all([ctx.api.get<Organisation>("/organisation"), fetchPage()]);
    renderSwitch(organisation);
    shown = page;
    more.hidden = page.length < PAGE;
    render();
  });
  return section(
    t("nav.transcripts"),
    t("transcripts.callsAreTranscribedOn"),
    message.el,
    switchRegion,
    reader,
    list,
    more,
  );
}
