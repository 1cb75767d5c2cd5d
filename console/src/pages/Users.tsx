import { useState } from "react";
import { api, useSession } from "../context";
import { ACTIONS, ActionForm, Confirm, DataTable, Dialog, ErrorBox, Loading, PageHead, useLoad } from "../components/ui";
import { time } from "../lib/format";
import type { User } from "../lib/api";

const USER_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

function CreateUserForm({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<"user" | "admin">("user");
  const nameBad = username !== "" && !USER_RE.test(username);
  const passBad = password !== "" && (password.length < 8 || password.length > 1024);
  return (
    <ActionForm
      label="Create user"
      busyLabel="Creating…"
      disabled={nameBad || passBad}
      onSubmit={async () => {
        await api.createUser({ username, password, role });
        onDone();
      }}
    >
      <label className="field">
        <span>User name</span>
        <input
          name="new-username"
          required
          autoFocus
          autoComplete="off"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          aria-invalid={nameBad}
          aria-describedby="user-hint"
        />
        <small id="user-hint" className={nameBad ? "bad" : "hint"}>
          1–64 letters, digits, _ . @ or -
        </small>
      </label>
      <label className="field">
        <span>Password</span>
        <input
          name="new-password"
          type="password"
          required
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={passBad}
          aria-describedby="pass-hint"
        />
        <small id="pass-hint" className={passBad ? "bad" : "hint"}>
          8 characters or more
        </small>
      </label>
      <label className="field narrow">
        <span>Role</span>
        <select name="role" value={role} onChange={(e) => setRole(e.target.value as "user" | "admin")}>
          <option value="user">user — own keys, data within their keys</option>
          <option value="admin">admin — users, audit log, every key</option>
        </select>
      </label>
    </ActionForm>
  );
}

export function UsersPage() {
  const { session } = useSession();
  const { data, error, loading, reload } = useLoad(() => api.listUsers(), []);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<User | null>(null);

  return (
    <div>
      <PageHead title="Users" sub="People who log in to the console. A user's role is set when the user is created.">
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New user
        </button>
      </PageHead>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="users" />}
      {data && (
        <DataTable label="Users" columns={["Name", "Role", "Created", ACTIONS]}>
          {data.map((u) => (
            <tr key={u.name}>
              <th scope="row">
                {u.name}
                {u.name === session?.user && <span className="badge dim">you</span>}
              </th>
              <td>{u.role}</td>
              <td className="nowrap">{time(u.created_at)}</td>
              <td className="links">
                <button type="button" className="small danger" onClick={() => setDeleting(u)} aria-label={`Delete user ${u.name}`}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <Dialog open={creating} title="New user" onClose={() => setCreating(false)}>
        <CreateUserForm
          onDone={() => {
            setCreating(false);
            void reload();
          }}
        />
      </Dialog>
      <Confirm
        open={deleting !== null}
        title="Delete user"
        message={
          <p>
            Delete <strong>{deleting?.name}</strong>? Every API key they own is revoked and their sessions end.
          </p>
        }
        action="Delete user"
        typeToConfirm={deleting?.name}
        onConfirm={async () => {
          await api.deleteUser(deleting!.name);
          void reload();
        }}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}
