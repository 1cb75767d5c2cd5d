// Token timing: when to refresh a login token, and whether a token is still good.
// Times are measured on the browser's clock from the moment a token arrived, and the
// lifetime comes from the token itself (exp - iat), so a skewed browser clock does not
// matter.

// Refresh this long before expiry at most (and a quarter of the lifetime for short ones).
export const REFRESH_MARGIN_MAX_S = 120;
// A session key (the console's SDK token) is replaced when it has less than this left.
export const DATA_KEY_MARGIN_S = 60;
// The server ends a login session this long after the password was checked
// (AuthOptions::session_max_s); the console's session key lives no longer.
export const SESSION_MAX_S = 12 * 3600;

export interface TokenClaims {
  sub?: string;
  kind?: string;
  iat?: number;
  exp?: number;
  auth_time?: number;
  key_id?: string;
}

function base64UrlDecode(s: string): string {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

// The payload of a JWT, unverified (the server verifies; the console only reads times).
export function decodeClaims(token: string): TokenClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const v = JSON.parse(base64UrlDecode(parts[1]));
    return v && typeof v === "object" ? (v as TokenClaims) : null;
  } catch {
    return null;
  }
}

// Seconds the token is valid for: exp - iat, or expiresAt - now if the token has no iat.
export function lifetimeS(token: string, expiresAtS: number, nowMs: number): number {
  const c = decodeClaims(token);
  if (c && typeof c.exp === "number" && typeof c.iat === "number" && c.exp > c.iat) return c.exp - c.iat;
  return Math.max(0, expiresAtS - Math.floor(nowMs / 1000));
}

// How long before expiry to refresh a token that lives `lifetime` seconds.
export function refreshMarginS(lifetime: number): number {
  return Math.min(REFRESH_MARGIN_MAX_S, lifetime / 4);
}

// Milliseconds from `nowMs` until a token received at `receivedAtMs`, living `lifetime`
// seconds, should be refreshed (0: now).
export function refreshDelayMs(receivedAtMs: number, lifetime: number, nowMs: number): number {
  const at = receivedAtMs + (lifetime - refreshMarginS(lifetime)) * 1000;
  return Math.max(0, Math.round(at - nowMs));
}

// True once a token received at `receivedAtMs` and living `lifetime` seconds has expired.
export function expired(receivedAtMs: number, lifetime: number, nowMs: number): boolean {
  return nowMs >= receivedAtMs + lifetime * 1000;
}

// The server's clock now, estimated from a token's iat and when it arrived.
export function serverNowS(token: string, receivedAtMs: number, nowMs: number): number {
  const c = decodeClaims(token);
  if (c && typeof c.iat === "number") return c.iat + Math.floor((nowMs - receivedAtMs) / 1000);
  return Math.floor(nowMs / 1000);
}

// Seconds a console session key should live: until the login session's end (auth_time +
// SESSION_MAX_S on the server's clock), at least 5 minutes.
export function sessionKeyTtlS(authTimeS: number, serverNow: number): number {
  const left = authTimeS + SESSION_MAX_S - serverNow;
  return Math.max(300, Math.min(SESSION_MAX_S, Math.floor(left)));
}
