/**
 * The SHA-256 (hex) of a text, as the consent evidence stores it: the widget sends the hash of
 * the consent words it displayed, and the server refuses an answer whose words differ from the
 * version it stored (signaling/consent_texts.py). WebCrypto exists in secure contexts only; on
 * an insecure page (where the camera is refused anyway) no hash is sent.
 */
export async function sha256Hex(text: string): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  try {
    const digest = await subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
  } catch {
    return null;
  }
}
