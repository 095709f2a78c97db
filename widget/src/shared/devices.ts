/** The visitor's camera and microphone, with a reason when they cannot be had. */

export type DeviceProblem = "denied" | "missing" | "noCamera" | "noMicrophone" | "busy" | "insecure" | "unsupported";

export interface LocalMedia {
  stream: MediaStream | null;
  problem: DeviceProblem | null;
}

const VIDEO: MediaTrackConstraints = {
  width: { ideal: 640 },
  height: { ideal: 480 },
  frameRate: { ideal: 24, max: 30 },
  facingMode: "user",
};
const AUDIO: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function errorName(error: unknown): string {
  return error instanceof Error || error instanceof DOMException ? error.name : "";
}

async function tryOpen(constraints: MediaStreamConstraints): Promise<MediaStream | string> {
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (error) {
    return errorName(error);
  }
}

/**
 * Ask for camera and microphone. A missing camera or microphone falls back to the other one
 * (the call still works, one way less); a refusal is reported, never retried behind the
 * visitor's back.
 */
export async function openLocalMedia(): Promise<LocalMedia> {
  if (!window.isSecureContext) return { stream: null, problem: "insecure" };
  if (!navigator.mediaDevices?.getUserMedia || typeof RTCPeerConnection === "undefined") {
    return { stream: null, problem: "unsupported" };
  }
  const both = await tryOpen({ audio: AUDIO, video: VIDEO });
  if (typeof both !== "string") return { stream: both, problem: null };
  switch (both) {
    case "NotAllowedError":
    case "SecurityError":
      return { stream: null, problem: "denied" };
    case "NotReadableError":
    case "AbortError":
      return { stream: null, problem: "busy" };
    case "NotFoundError":
    case "OverconstrainedError": {
      const audio = await tryOpen({ audio: AUDIO });
      if (typeof audio !== "string") return { stream: audio, problem: "noCamera" };
      const video = await tryOpen({ video: VIDEO });
      if (typeof video !== "string") return { stream: video, problem: "noMicrophone" };
      return { stream: null, problem: "missing" };
    }
    default:
      return { stream: null, problem: "unsupported" };
  }
}

export function stopMedia(stream: MediaStream | null): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
