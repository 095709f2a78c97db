import { h, replace } from "../shared/dom";
import type { Context } from "./context";
import { busy, button, Message, section, when } from "./ui";
import { t } from "../staff/texts";

/** ``GET /organisation/dpa`` (privacy.dpa). */
interface Dpa {
  version: string | null;
  sha256: string | null;
  text: string | null;
  published_at: string | null;
  accepted: { version: string; sha256: string; accepted_by: string | null; accepted_by_name: string | null; accepted_at: string } | null;
  recording_and_transcription: boolean;
  accepted_by_role: string;
}

/**
 * The data processing agreement: whether this organisation's data protection officer accepted the
 * current version, and so whether recording and transcription are on. Says why they are off and who
 * may accept; a dpo reads the text and accepts it here (audited).
 */
export function dpaSection(ctx: Context): HTMLElement {
  const message = new Message();
  const body = h("div", { "data-part": "dpa" });

  const render = (dpa: Dpa): void => {
    if (dpa.version === null) {
      replace(body, h("p", {}, t("dpa.thisInstallationHasNo")));
      return;
    }
    const status = dpa.accepted
      ? h(
          "p",
          { class: "message ok", role: "status", "data-part": "dpa-status" },
          t("dpa.accepted", { version: dpa.accepted.version, by: dpa.accepted.accepted_by_name ?? t("dpa.theOrganisation"), when: when(dpa.accepted.accepted_at) }),
        )
      : h(
          "p",
          { class: "message error", role: "alert", "data-part": "dpa-status" },
          t("dpa.notAccepted", { version: dpa.version, role: dpa.accepted_by_role }),
        );
    const accept =
      !dpa.accepted && ctx.role === "dpo"
        ? button(t("dpa.acceptThisAgreement"), () => {
            void busy(accept, message, async () => {
              const done = await ctx.api.post<Dpa>("/organisation/dpa/acceptance", { version: dpa.version, sha256: dpa.sha256 });
              render(done);
              message.ok(t("dpa.acceptedRecordingAndTranscription"));
            });
          })
        : null;
    replace(
      body,
      status,
      h("p", { class: "help" }, `${t("dpa.versionPublished", { version: dpa.version, when: when(dpa.published_at) })} SHA-256 `, h("code", {}, dpa.sha256 ?? "")),
      h("pre", { class: "dpa-text", tabindex: "0", "aria-label": t("dpa.agreementText") }, dpa.text ?? ""),
      accept,
    );
  };

  void busy(null, message, async () => render(await ctx.api.get<Dpa>("/organisation/dpa")));
  return section(
    t("nav.dpa"),
    t("dpa.theAgreementUnderWhich"),
    message.el,
    body,
  );
}
