import { describe, expect, it } from "vitest";
import { decodeClaims, expired, lifetimeS, refreshDelayMs, refreshMarginS, serverNowS, sessionKeyTtlS, SESSION_MAX_S } from "./tokens";

function b64url(s: string): string {
  return Buffer.from(s).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function jwt(payload: object): string {
  return `${b64url('{"alg":"EdDSA","typ":"JWT"}')}.${b64url(JSON.stringify(payload))}.c2ln`;
}

describe("token timing", () => {
  it("reads the claims of a JWT", () => {
    const t = jwt({ sub: "admin", kind: "login", iat: 1000, exp: 1900, auth_time: 990 });
    expect(decodeClaims(t)).toMatchObject({ sub: "admin", iat: 1000, exp: 1900, auth_time: 990 });
    expect(decodeClaims("not-a-jwt")).toBeNull();
    expect(decodeClaims("a.!!!.c")).toBeNull();
  });

  it("takes the lifetime from exp - iat, whatever the browser's clock says", () => {
    const t = jwt({ iat: 1000, exp: 1900 });
    // The browser's clock is a day off: the lifetime is still 900 s.
    expect(lifetimeS(t, 1900, (1000 + 86400) * 1000)).toBe(900);
    // Without iat: expires_at minus now.
    expect(lifetimeS(jwt({ exp: 2000 }), 2000, 1500 * 1000)).toBe(500);
  });

  it("refreshes 2 minutes before expiry, or at 3/4 of a short lifetime", () => {
    expect(refreshMarginS(900)).toBe(120);
    expect(refreshMarginS(40)).toBe(10);
    const received = 5_000_000;
    expect(refreshDelayMs(received, 900, received)).toBe(780_000);
    expect(refreshDelayMs(received, 900, received + 700_000)).toBe(80_000);
    expect(refreshDelayMs(received, 40, received)).toBe(30_000);
    // Overdue (the tab slept): refresh now.
    expect(refreshDelayMs(received, 900, received + 850_000)).toBe(0);
  });

  it("says when a token has expired", () => {
    expect(expired(1000, 10, 1000 + 9_999)).toBe(false);
    expect(expired(1000, 10, 1000 + 10_000)).toBe(true);
  });

  it("gives the session key the rest of the login session, at least 5 minutes", () => {
    const t = jwt({ iat: 10_000, exp: 10_900 });
    const now = serverNowS(t, 1_000_000, 1_000_000 + 60_000);
    expect(now).toBe(10_060);
    expect(sessionKeyTtlS(10_000, 10_060)).toBe(SESSION_MAX_S - 60);
    expect(sessionKeyTtlS(10_000, 10_000 + SESSION_MAX_S - 10)).toBe(300);
    expect(sessionKeyTtlS(10_000, 9_000)).toBe(SESSION_MAX_S);
  });
});
