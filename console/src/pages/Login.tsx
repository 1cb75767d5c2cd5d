import { useState } from "react";
import { manager, useSession } from "../context";
import { ActionForm } from "../components/ui";
import { ApiError } from "../lib/http";

export function LoginPage() {
  const { endedBecause } = useSession();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [remember, setRemember] = useState(false);

  return (
    <main className="center login">
      <h1 id="page-title">Vectron console</h1>
      <ActionForm
        className="card"
        ariaLabel="Log in"
        label="Log in"
        busyLabel="Logging in…"
        onSubmit={async () => {
          try {
            await manager.login(username, password, remember);
          } catch (err) {
            setPassword("");
            if (err instanceof ApiError && err.status === 429)
              throw new Error("Too many failed logins: wait a minute and try again. " + err.message);
            throw err;
          }
        }}
      >
        {endedBecause && (
          <p className="notice" role="status">
            {endedBecause}
          </p>
        )}
        <label className="field">
          <span>User name</span>
          <input
            name="username"
            autoComplete="username"
            autoFocus
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <label className="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} />
          <span>Remember me on this computer</span>
        </label>
        <p className="hint">
          {remember
            ? "Your session is kept in this browser's local storage until you log out or it expires."
            : "Your session ends when you close this tab."}
        </p>
      </ActionForm>
    </main>
  );
}
