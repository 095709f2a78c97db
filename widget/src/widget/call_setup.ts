import { CallMedia, type MediaState } from "../shared/rtc";
import type { Answer, ConsentText, WidgetSession } from "../shared/wire";
import { sendPhoto } from "./api";
import { hasSeveralCameras } from "./camera";
import type { VisitorSocket } from "./connection";
import { sha256Hex } from "./digest";
import type { Catalogue } from "./i18n";
import { CallView } from "./ui/call";

/**
 * The visitor's recording consent, sent right after joining, before an adviser can start
 * recording (README: consent:set). With the hash of the words displayed: the server stores it
 * only if they are its own.
 */
export function sendConsent(socket: VisitorSocket, consent: { text: ConsentText; granted: boolean }): void {
  const shown = consent.text;
  void sha256Hex(shown.text).then((text_sha256) =>
    socket.request("consent:set", {
      recording: consent.granted,
      text_id: shown.id,
      language: shown.language,
      ...(text_sha256 ? { text_sha256 } : {}),
    }),
  );
}

/** What the call view's buttons do that the widget itself decides. */
export interface CallActions {
  end(): void;
  stopRecording(): void;
  switchCamera(): void;
}

/**
 * An accepted call's view and media: the view's chat and photos go over the visitor's socket
 * and token, and the media (offered by the browser, shared/rtc.ts) reports to the view. The
 * media is not started: the caller shows the view first.
 */
export function openCall(
  t: Catalogue,
  base: string,
  session: WidgetSession,
  socket: VisitorSocket,
  adviserName: string,
  stream: MediaStream | null,
  actions: CallActions,
): { view: CallView; media: CallMedia } {
  const view = new CallView(t, adviserName, stream, {
    ...actions,
    chat: async (text) => {
      const ack = await socket.request("chat:send", { text });
      return ack.ok ? null : ack.error.code;
    },
    photo: (file) => sendPhoto(base, session.visitor_token, file),
  });
  if (stream?.getVideoTracks().length) {
    void hasSeveralCameras().then((several) => view.showCameraSwitch(several));
  }
  const media = new CallMedia(
    session.ice_servers,
    stream,
    {
      offer: (sdp) => socket.request<Answer>("rtc:offer", { sdp, type: "offer" }),
      candidate: (candidate) => socket.send("rtc:candidate", candidate),
      online: () => socket.connected,
    },
    (state: MediaState) => view.setMediaState(state),
    (remote) => view.setRemote(remote),
  );
  return { view, media };
}
