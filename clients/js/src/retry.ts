// Backoff with jitter and Retry-After parsing.

export interface BackoffOptions {
  /** Wait before the first retry, before jitter (100 ms). Doubles on each retry. */
  initialMs?: number;
  /** Cap of the doubling wait (5000 ms). */
  maxMs?: number;
}

/**
 * How long to wait before retry number `attempt` (0 = the first retry). Without
 * Retry-After: "equal jitter", uniformly in [d/2, d] with d = min(maxMs, initialMs * 2^attempt).
 * With Retry-After: that wait, plus up to d/2 so that clients told the same moment spread out.
 */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  backoff: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  const d = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  if (retryAfterMs !== undefined) return retryAfterMs + random() * (d / 2);
  return d / 2 + random() * (d / 2);
}

/** Parses a Retry-After header (delay-seconds or an HTTP date) into milliseconds; undefined if absent or malformed. */
export function parseRetryAfterMs(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[A-Za-z]/.test(v)) return undefined; // An HTTP date names its day and month.
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
