/**
 * Front/rear camera switching. The new camera's track takes the old one's place in the local
 * stream and on the peer connection's sender (``RTCRtpSender.replaceTrack``, W3C WebRTC §5.2):
 * same codec and transceiver, so no renegotiation; a connection made later for recovery picks
 * it up from the stream.
 */

const VIDEO: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } };

/** The cameras the browser lists (labels only after permission; ids are enough here). */
async function cameras(): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  return devices.filter((device) => device.kind === "videoinput" && device.deviceId);
}

export async function hasSeveralCameras(): Promise<boolean> {
  return (await cameras()).length > 1;
}

async function open(deviceId: string): Promise<MediaStreamTrack> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, deviceId: { exact: deviceId } } });
  const [track] = stream.getVideoTracks();
  if (!track) throw new Error("no video track");
  return track;
}

/**
 * Open the next camera after the one ``stream`` shows, hand its track to ``replace`` (the
 * senders), then swap it into ``stream`` and stop the old one: a sender whose track ended
 * before the new one arrived stops encoding for good in Chromium. False when there is nothing
 * to switch to.
 */
export async function switchCamera(stream: MediaStream, replace: (track: MediaStreamTrack) => Promise<void>): Promise<boolean> {
  const old = stream.getVideoTracks()[0];
  const list = await cameras();
  if (!old || list.length < 2) return false;
  const current = old.getSettings().deviceId;
  const index = list.findIndex((device) => device.deviceId === current);
  const next = list[(index + 1) % list.length];
  if (!next) return false;
  let track: MediaStreamTrack;
  try {
    track = await open(next.deviceId);
  } catch {
    // Many phones cannot hold two cameras open at once: let the first one go, then try again.
    old.stop();
    track = await open(next.deviceId);
  }
  track.enabled = old.enabled;
  await replace(track);
  stream.removeTrack(old);
  stream.addTrack(track);
  old.stop();
  return true;
}
