// The console's login session: the login token (refreshed before it expires), and the
// console's own API key whose SDK token is used for the data API (login tokens may only
// read the collection list and /metrics; see docs/console.md, "Tokens").
//
// Tokens live in sessionStorage, which dies with the tab; only when the user ticks
// "remember me" do they go to localStorage. They are never put in a URL.

import { ApiError, request } from "./http";
import { DATA_KEY_MARGIN_S, expired, lifetimeS, refreshDelayMs, serverNowS, sessionKeyTtlS } from "./tokens";

const STORAGE_KEY = "vectron.console.session";
export const SESSION_KEY_NAME = "console session";

export interface DataKey {
  keyId: string;
  token: string;
  expiresAtMs: number; // Browser clock.
}

export interface Session {
  user: string;
  role: "admin" | "user";
  authTime: number; // Server clock, seconds: when the password was checked.
  loginToken: string;
  receivedAtMs: number; // Browser clock: when the login token arrived.
  lifetimeS: number; // Of the login token.
  remember: boolean;
  dataKey?: DataKey;
}

export type AuthMode = "unknown" | "on" | "off";

interface TokenAnswer {
  token: string;
  expires_at: number;
}

function storages(): { keep: Storage | null; tab: Storage | null } {
  try {
    return { keep: window.localStorage, tab: window.sessionStorage };
  } catch {
    return { keep: null, tab: null };
  }
}

export function loadStored(): Session | null {
  const { keep, tab } = storages();
  for (const st of [tab, keep]) {
    const raw = st?.getItem(STORAGE_KEY);
    if (!raw) continue;
    try {
      const s = JSON.parse(raw) as Session;
      if (typeof s.loginToken === "string" && typeof s.user === "string") return s;
    } catch {
      st?.removeItem(STORAGE_KEY);
    }
  }
  return null;
}

function store(s: Session | null) {
  const { keep, tab } = storages();
  if (!s) {
    keep?.removeItem(STORAGE_KEY);
    tab?.removeItem(STORAGE_KEY);
    return;
  }
  const raw = JSON.stringify(s);
  if (s.remember) {
    keep?.setItem(STORAGE_KEY, raw);
    tab?.removeItem(STORAGE_KEY);
  } else {
    tab?.setItem(STORAGE_KEY, raw);
    keep?.removeItem(STORAGE_KEY);
  }
}

export class SessionManager {
  mode: AuthMode = "unknown";
  session: Session | null = null;
  // Why the last session ended without a logout (shown on the login page).
  endedBecause = "";
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pendingKey: Promise<string> | null = null;
  private listeners = new Set<() => void>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  private changed() {
    for (const fn of this.listeners) fn();
  }

  // Finds out whether the server has auth on or off (no /v1/auth/me route), and resumes
  // a stored session if the server still takes its token.
  async start(): Promise<void> {
    let s = loadStored();
    if (s && expired(s.receivedAtMs, s.lifetimeS, this.now())) {
      store(null);
      s = null;
      this.endedBecause = "Your session expired; log in again.";
    }
    try {
      const me = await request<{ role: "admin" | "user" }>("GET", "/v1/auth/me", { token: s?.loginToken });
      if (s) {
        this.mode = "on";
        this.session = { ...s, role: me.role };
        this.schedule();
      } else {
        this.mode = "off";
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.status === 404) {
        this.mode = "off";
        if (s) store(null);
      } else if (e.status === 401 || e.status === 403) {
        this.mode = "on";
        if (s) {
          store(null);
          this.endedBecause = `Your session ended: ${e.message}. Log in again.`;
        }
      } else throw e;
    }
    this.changed();
  }

  async login(username: string, password: string, remember: boolean): Promise<void> {
    const t = await request<TokenAnswer>("POST", "/v1/auth/login", { body: { username, password } });
    const receivedAtMs = this.now();
    const me = await request<{ user: string; role: "admin" | "user"; auth_time: number }>("GET", "/v1/auth/me", {
      token: t.token,
    });
    this.session = {
      user: me.user,
      role: me.role,
      authTime: me.auth_time,
      loginToken: t.token,
      receivedAtMs,
      lifetimeS: lifetimeS(t.token, t.expires_at, receivedAtMs),
      remember,
    };
    this.endedBecause = "";
    store(this.session);
    this.schedule();
    this.changed();
  }

  // Replaces the login token with a fresh one. Ends the session if the server says no.
  async refresh(): Promise<void> {
    const s = this.session;
    if (!s) return;
    try {
      const t = await request<TokenAnswer>("POST", "/v1/auth/refresh", { token: s.loginToken });
      const receivedAtMs = this.now();
      this.session = { ...s, loginToken: t.token, receivedAtMs, lifetimeS: lifetimeS(t.token, t.expires_at, receivedAtMs) };
      store(this.session);
      this.schedule();
      this.changed();
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        this.end(`Your session ended: ${e.message}. Log in again.`);
      } else {
        // The server is unreachable for now: try again shortly, until the token expires.
        if (expired(s.receivedAtMs, s.lifetimeS, this.now())) this.end("Your session expired; log in again.");
        else this.timer = setTimeout(() => void this.refresh(), 5000);
      }
    }
  }

  private schedule() {
    clearTimeout(this.timer);
    const s = this.session;
    if (!s) return;
    this.timer = setTimeout(() => void this.refresh(), refreshDelayMs(s.receivedAtMs, s.lifetimeS, this.now()));
  }

  // Called when the tab becomes visible again: timers may not have run while it slept.
  wake() {
    const s = this.session;
    if (!s) return;
    if (expired(s.receivedAtMs, s.lifetimeS, this.now())) this.end("Your session expired; log in again.");
    else if (refreshDelayMs(s.receivedAtMs, s.lifetimeS, this.now()) === 0) void this.refresh();
  }

  loginToken(): string | undefined {
    return this.session?.loginToken;
  }

  // The SDK token of this session's API key, created on first use (scopes: read and
  // write, plus admin for admin users; it expires when the login session would).
  async dataToken(): Promise<string | undefined> {
    if (this.mode === "off") return undefined;
    const s = this.session;
    if (!s) throw new ApiError(401, "unauthenticated", "not logged in");
    if (s.dataKey && s.dataKey.expiresAtMs - this.now() > DATA_KEY_MARGIN_S * 1000) return s.dataKey.token;
    if (!this.pendingKey) {
      this.pendingKey = this.createDataKey(s).finally(() => {
        this.pendingKey = null;
      });
    }
    return this.pendingKey;
  }

  private async createDataKey(s: Session): Promise<string> {
    const now = this.now();
    const ttl = sessionKeyTtlS(s.authTime, serverNowS(s.loginToken, s.receivedAtMs, now));
    const scopes = s.role === "admin" ? ["read", "write", "admin"] : ["read", "write"];
    const k = await request<{ key_id: string; token: string }>("POST", "/v1/keys", {
      token: s.loginToken,
      body: { name: SESSION_KEY_NAME, scopes, expires_in: ttl },
    });
    const cur = this.session;
    if (!cur || cur.user !== s.user) {
      // Logged out meanwhile: the key must not outlive the session.
      void request("DELETE", `/v1/keys/${encodeURIComponent(k.key_id)}`, { token: s.loginToken }).catch(() => {});
      throw new ApiError(401, "unauthenticated", "logged out");
    }
    this.session = { ...cur, dataKey: { keyId: k.key_id, token: k.token, expiresAtMs: now + ttl * 1000 } };
    store(this.session);
    this.changed();
    return k.token;
  }

  // Forgets the session key after the server refused it (revoked on the Keys page).
  dropDataKey(token: string) {
    const s = this.session;
    if (s?.dataKey?.token === token) {
      this.session = { ...s, dataKey: undefined };
      store(this.session);
    }
  }

  currentKeyId(): string | undefined {
    return this.session?.dataKey?.keyId;
  }

  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    await request("POST", "/v1/auth/password", {
      token: this.session?.loginToken,
      body: { old_password: oldPassword, new_password: newPassword },
    });
  }

  // Revokes the session key (best effort) and forgets every token.
  async logout(): Promise<void> {
    const s = this.session;
    if (s?.dataKey) {
      try {
        await request("DELETE", `/v1/keys/${encodeURIComponent(s.dataKey.keyId)}`, { token: s.loginToken });
      } catch {
        /* It expires on its own; the user is leaving either way. */
      }
    }
    this.end("");
  }

  private end(why: string) {
    clearTimeout(this.timer);
    this.session = null;
    this.endedBecause = why;
    store(null);
    this.changed();
  }
}
