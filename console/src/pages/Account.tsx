import { useEffect, useState } from "react";
import { manager, useSession } from "../context";
import { ActionForm, PageHead } from "../components/ui";
import { duration, time } from "../lib/format";
import { refreshDelayMs, SESSION_MAX_S } from "../lib/tokens";

export function AccountPage() {
  const { session } = useSession();
  const [now, setNow] = useState(Date.now());
  const [oldPw, setOldPw] = useState("");
  const [newPw, setNewPw] = useState("");
  const [again, setAgain] = useState("");
  const [done, setDone] = useState(false);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (!session) return null;

  const expiresIn = session.receivedAtMs / 1000 + session.lifetimeS - now / 1000;
  const refreshIn = refreshDelayMs(session.receivedAtMs, session.lifetimeS, now) / 1000;
  const mismatch = again !== "" && again !== newPw;

  return (
    <div>
      <PageHead title="Account" />
      <dl className="stats wide">
        <div>
          <dt>User</dt>
          <dd>{session.user}</dd>
        </div>
        <div>
          <dt>Role</dt>
          <dd>{session.role}</dd>
        </div>
        <div>
          <dt>Logged in</dt>
          <dd>{time(session.authTime)}</dd>
        </div>
        <div>
          <dt>Login token</dt>
          <dd data-testid="token-expiry">
            expires in {duration(expiresIn)}, renewed in {duration(refreshIn)}
          </dd>
        </div>
        <div>
          <dt>Session</dt>
          <dd>
            ends {time(session.authTime + SESSION_MAX_S)} at the latest;{" "}
            {session.remember ? "remembered in this browser" : "forgotten when this tab closes"}
          </dd>
        </div>
      </dl>
      <section aria-labelledby="pw-title">
        <h2 id="pw-title">Change password</h2>
        <ActionForm
          className="card narrow-card"
          label="Change password"
          busyLabel="Changing…"
          onSubmit={async () => {
            setDone(false);
            if (newPw !== again) throw new Error("The two new passwords differ.");
            await manager.changePassword(oldPw, newPw);
            setDone(true);
            setOldPw("");
            setNewPw("");
            setAgain("");
          }}
        >
          <label className="field">
            <span>Current password</span>
            <input name="old-password" type="password" autoComplete="current-password" required value={oldPw} onChange={(e) => setOldPw(e.target.value)} />
          </label>
          <label className="field">
            <span>New password (8 characters or more)</span>
            <input
              name="new-password"
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              value={newPw}
              onChange={(e) => setNewPw(e.target.value)}
            />
          </label>
          <label className="field">
            <span>New password again</span>
            <input
              name="new-password-again"
              type="password"
              autoComplete="new-password"
              required
              value={again}
              onChange={(e) => setAgain(e.target.value)}
              aria-invalid={mismatch}
            />
            {mismatch && <small className="bad">The two new passwords differ.</small>}
          </label>
          {done && (
            <p className="ok" role="status">
              Password changed.
            </p>
          )}
        </ActionForm>
      </section>
    </div>
  );
}
