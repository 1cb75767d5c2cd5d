// One fetch wrapper for every call the console makes: JSON in and out, tokens in the
// Authorization header only (never in a URL), and the server's {"error": {code,
// message}} turned into an ApiError that says what went wrong.

export class ApiError extends Error {
  constructor(
    readonly status: number, // HTTP status; 0 if the server could not be reached.
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface RequestOptions {
  body?: unknown;
  token?: string;
  signal?: AbortSignal;
  text?: boolean; // Return the body as text (e.g. /metrics).
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: opts.text ? "text/plain" : "application/json" };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let resp: Response;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body,
      signal: opts.signal,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "unreachable", `cannot reach the server (${(e as Error).message})`);
  }
  const text = await resp.text();
  if (!resp.ok) {
    let code = "http_" + resp.status;
    let message = `${resp.status} ${resp.statusText}`;
    try {
      const j = JSON.parse(text);
      if (j && j.error) {
        code = String(j.error.code ?? code);
        message = String(j.error.message ?? message);
      }
    } catch {
      /* not JSON: keep the status line */
    }
    throw new ApiError(resp.status, code, message);
  }
  if (opts.text) return text as T;
  try {
    return (text ? JSON.parse(text) : {}) as T;
  } catch {
    throw new ApiError(resp.status, "bad_response", `the server's answer to ${method} ${path} is not JSON`);
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.status ? `${e.message} (${e.status} ${e.code})` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
