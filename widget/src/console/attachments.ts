import type { StaffSession } from "../staff";

/**
 * Photos in the adviser's call: a snapshot of the visitor's video, and the images of the call
 * fetched with the staff token (each staff read is audited on the server).
 */

/** A still of ``video`` as a JPEG, or ``null`` before its first frame. */
export function still(video: HTMLVideoElement): Promise<Blob | null> {
  if (!video.videoWidth || !video.videoHeight) return Promise.resolve(null);
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d")?.drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}

/** Post a snapshot into the call; ``null`` when stored, else the server's error code. */
export async function sendSnapshot(session: StaffSession, callId: string, image: Blob): Promise<string | null> {
  try {
    await session.fetch(`/api/v1/calls/${encodeURIComponent(callId)}/attachments`, {
      method: "POST",
      headers: { "Content-Type": image.type || "image/jpeg" },
      body: image,
    });
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? "failed";
  }
}

/** One image of the call (``null`` when it cannot be had). */
export async function loadCallImage(session: StaffSession, callId: string, id: string): Promise<Blob | null> {
  try {
    const token = await session.accessToken();
    const response = await fetch(`/api/v1/calls/${encodeURIComponent(callId)}/attachments/${encodeURIComponent(id)}`, {
      headers: { Authorization: `Bearer ${token}` },
      credentials: "omit",
    });
    return response.ok ? await response.blob() : null;
  } catch {
    return null;
  }
}
