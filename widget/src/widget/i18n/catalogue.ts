import type { ChatTexts } from "../../shared/chat";

/**
 * Every text the widget shows, one catalogue per language (en.ts, nl.ts, de.ts, fr.ts); the
 * chat's texts are named in ChatTexts.
 */
export interface Catalogue extends ChatTexts {
  launcher: string;
  launcherWaiting: string;
  launcherCall: string;
  title: string;
  close: string;

  precallTitle: string;
  intro: string;
  noPicture: string;
  preview: string;
  devicesStarting: string;
  denied: string;
  missing: string;
  noCamera: string;
  noMicrophone: string;
  busy: string;
  insecure: string;
  unsupported: string;
  retry: string;
  queue: string;
  language: string;
  closedOpens: (when: string) => string;
  closedNow: string;
  closedTag: string;
  consentTitle: string;
  consentCheckbox: string;
  start: string;
  joining: string;
  joinFailed: string;

  waitingTitle: string;
  positionLabel: string;
  position: (n: number) => string;
  etaMinutes: (minutes: number) => string;
  etaSoon: string;
  etaUnknown: string;
  leave: string;

  callWith: (name: string) => string;
  adviser: string;
  remoteVideo: string;
  selfView: string;
  connecting: string;
  reconnecting: string;
  offline: string;
  recording: string;
  stopRecording: string;
  mute: string;
  unmute: string;
  cameraOff: string;
  cameraOn: string;
  end: string;
  playBlocked: string;
  chatNew: string;
  photoSend: string;
  photoSending: string;
  photoSent: string;
  photoFailed: string;
  photoRefused: string;
  snapshotTaken: string;
  cameraSwitch: string;
  /** Shown while a call is passed to another adviser or queue (the visitor stays connected). */
  transferring: string;
  /** Said (to screen readers too) while the adviser shares a screen, shown large. */
  screenShared: string;

  endedTitle: string;
  leftTitle: string;
  endedByAdviser: string;
  endedConnection: string;
  /** The queue's maximum wait ran out (``call:ended`` reason ``max_wait``). */
  maxWaitTitle: string;
  /** ``when`` is ``retry_at`` formatted like an opening time. */
  maxWaitRetry: (when: string) => string;
  maxWaitLater: string;
  referenceLabel: string;
  referenceHelp: string;
  privacyLink: string;
  /** The privacy key shown once at the end of a call: the visitor's only privacy credential. */
  privacyKeyLabel: string;
  privacyKeyHelp: string;
  /** What the reference code is still for, now that the privacy key is the credential. */
  referenceNote: string;
  copy: string;
  copied: string;
  rateTitle: string;
  rateStar: (n: number) => string;
  thanks: string;
  again: string;
  done: string;

  errorTitle: string;
  errorUnavailable: string;
  errorNotAllowed: string;
  errorExpired: string;
}
