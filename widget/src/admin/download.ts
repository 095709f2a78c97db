import { h } from "../shared/dom";
import type { StaffSession } from "../staff/session";
import { ApiError } from "./api";
import { t } from "../staff/texts";

/** Save a CSV export. It needs the bearer token, which a plain link cannot send: fetch it and save the blob. */
export async function downloadCsv(session: StaffSession, path: string, query: Record<string, string | undefined>, fallbackName: string): Promise<void> {
  const params = new URLSearchParams({ format: "csv" });
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}?${params.toString()}`, {
      headers: { Authorization: `Bearer ${await session.accessToken()}` },
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "unreachable", t("calls.loketCannotBeReached"));
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new ApiError(response.status, body?.error?.code ?? `http_${response.status}`, body?.error?.message ?? "");
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
