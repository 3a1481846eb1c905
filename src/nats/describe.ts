/** An error's message, or any thrown value as text (some cannot be turned into strings). */
export function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}
