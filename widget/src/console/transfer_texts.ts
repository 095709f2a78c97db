/**
 * The console's texts for call transfer and screen share, in one place so that they move into
 * the console's language catalogues as one block (English for now).
 */
export const TRANSFER_TEXTS = {
  transfer: "Transfer",
  transferTitle: "Transfer the call",
  transferTo: "Transfer to",
  queuesGroup: "Queues (the visitor goes first)",
  colleaguesGroup: "Colleagues available now",
  noColleagues: "No colleague is available now.",
  note: "Note for the next adviser (optional)",
  send: "Transfer now",
  cancel: "Cancel",
  ringing: (name: string) => `Ringing ${name}… You stay in the call until they accept.`,
  passedToQueue: (queue: string) => `You passed the call to ${queue}; the visitor waits first in line there.`,
  passedToColleague: "Your colleague took the call.",
  failed: (reason: string) =>
    reason === "declined"
      ? "Your colleague declined the transfer; the call is yours again."
      : reason === "ring_timeout"
        ? "Your colleague did not answer; the call is yours again."
        : "Your colleague left; the call is yours again.",
  errors: {
    not_in_call: "Only a call you are in can be transferred.",
    queue_not_found: "That queue no longer exists.",
    queue_closed: "That queue is closed now.",
    language_not_served: "That queue does not serve the visitor's language.",
    adviser_not_found: "That colleague is not known.",
    adviser_unavailable: "That colleague is no longer available.",
    transfer_to_self: "You cannot transfer a call to yourself.",
  } as Record<string, string>,
  transferredRing: (note: string | null) => ` Transferred by a colleague${note ? `: “${note}”` : ""}.`,
  shareScreen: "Share screen",
  stopSharing: "Stop sharing",
  sharing: "You are sharing your screen; the visitor sees it large.",
  shareFailed: "The screen could not be shared.",
  shareNoCamera: "Screen sharing needs a camera connection to the visitor; turn on your camera and take the call again.",
} as const;
