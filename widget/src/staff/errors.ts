/** A failed staff REST call: ``status`` 0 when Loket could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message || code);
    this.name = "ApiError";
  }
}
