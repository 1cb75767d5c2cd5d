import { useRef, useState } from "react";
import { api, manager, useIsAdmin } from "../context";
import { ACTIONS, ActionForm, Confirm, CopyButton, DataTable, Dialog, ErrorBox, Loading, PageHead, useLoad } from "../components/ui";
import { time } from "../lib/format";
import { SESSION_KEY_NAME } from "../lib/session";
import type { ApiKey, CreatedKey, Scope } from "../lib/api";

const EXPIRIES: [string, number][] = [
  ["Never", 0],
  ["1 hour", 3600],
  ["1 day", 86400],
  ["30 days", 30 * 86400],
  ["90 days", 90 * 86400],
  ["1 year", 365 * 86400],
];

function CreateKeyForm({ onCreated }: { onCreated: (k: CreatedKey) => void }) {
  const admin = useIsAdmin();
  const collections = useLoad(() => api.listCollections(), []);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const [restrict, setRestrict] = useState(false);
  const [allowed, setAllowed] = useState<string[]>([]);
  const [extra, setExtra] = useState("");
  const [expiry, setExpiry] = useState(0);

  const toggle = <T,>(list: T[], v: T, on: boolean) => (on ? [...list.filter((x) => x !== v), v] : list.filter((x) => x !== v));
  const extraNames = extra
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

  return (
    <ActionForm
      label="Create key"
      busyLabel="Creating…"
      onSubmit={async () => {
        if (scopes.length === 0) throw new Error("Pick at least one scope.");
        const list = [...new Set([...allowed, ...extraNames])];
        if (restrict && list.length === 0) throw new Error("Pick the collections this key may use, or allow every collection.");
        const k = await api.createKey({
          name,
          scopes,
          ...(restrict ? { collections: list } : {}),
          ...(expiry ? { expires_in: expiry } : {}),
        });
        onCreated(k);
      }}
    >
      <label className="field">
        <span>Name</span>
        <input name="key-name" required autoFocus value={name} onChange={(e) => setName(e.target.value)} placeholder="ingest job" />
      </label>
      <fieldset className="radios">
        <legend>Scopes</legend>
        {(["read", "write", "feedback", "admin"] as Scope[]).map((s) => (
          <label className="check" key={s}>
            <input
              type="checkbox"
              name={`scope-${s}`}
              checked={scopes.includes(s)}
              disabled={s === "admin" && !admin}
              onChange={(e) => setScopes(toggle(scopes, s, e.target.checked))}
            />
            <span>
              {s}
              <small className="hint">
                {s === "read" && " — get, count, scroll, search"}
                {s === "write" && " — upsert, delete, payload indexes, ratings"}
                {s === "feedback" && " — ratings only (POST …/feedback): for apps whose users rate results"}
                {s === "admin" && (admin ? " — create and drop collections, /metrics" : " — only admin users may give it")}
              </small>
            </span>
          </label>
        ))}
      </fieldset>
      <fieldset className="radios">
        <legend>Collections</legend>
        <label className="check">
          <input type="radio" name="restrict" checked={!restrict} onChange={() => setRestrict(false)} />
          <span>Every collection</span>
        </label>
        <label className="check">
          <input type="radio" name="restrict" checked={restrict} onChange={() => setRestrict(true)} />
          <span>Only these:</span>
        </label>
        {restrict && (
          <div className="allow-list">
            {collections.data?.map((c) => (
              <label className="check" key={c.name}>
                <input
                  type="checkbox"
                  name={`allow-${c.name}`}
                  checked={allowed.includes(c.name)}
                  onChange={(e) => setAllowed(toggle(allowed, c.name, e.target.checked))}
                />
                <span>{c.name}</span>
              </label>
            ))}
            <label className="field">
              <span>Other names (not created yet), separated by commas</span>
              <input name="allow-extra" value={extra} onChange={(e) => setExtra(e.target.value)} spellCheck={false} />
            </label>
          </div>
        )}
      </fieldset>
      <label className="field narrow">
        <span>Expires</span>
        <select name="expiry" value={expiry} onChange={(e) => setExpiry(Number(e.target.value))}>
          {EXPIRIES.map(([label, s]) => (
            <option key={s} value={s}>
              {s ? `in ${label}` : label}
            </option>
          ))}
        </select>
      </label>
    </ActionForm>
  );
}

// The SDK token, shown this once. It lives only in this dialog's state.
function TokenOnce({ created, onClose }: { created: CreatedKey | null; onClose: () => void }) {
  const input = useRef<HTMLTextAreaElement>(null);
  return (
    <Dialog open={created !== null} title="Your new SDK token" onClose={onClose}>
      {created && (
        <>
          <p className="notice">
            Copy it now: this is the only time it is shown. Programs send it as <code>Authorization: Bearer …</code>.
          </p>
          <p>
            Key <code>{created.key_id}</code> “{created.name}”, scopes {created.scopes.join(", ")}, expires{" "}
            {created.expires_at ? time(created.expires_at) : "never"}.
          </p>
          <label className="field">
            <span>SDK token</span>
            <textarea ref={input} className="token" readOnly rows={4} value={created.token} data-testid="new-token" />
          </label>
          <div className="actions">
            <CopyButton text={created.token} label="Copy token" from={() => input.current} />
            <button type="button" className="primary" onClick={onClose}>
              Done
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}

function status(k: ApiKey, nowS: number): string {
  if (k.revoked) return "revoked";
  if (k.expires_at && k.expires_at <= nowS) return "expired";
  return "active";
}

export function KeysPage() {
  const { data, error, loading, reload } = useLoad(() => api.listKeys(), []);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [showAll, setShowAll] = useState(false);
  const nowS = Date.now() / 1000;
  const mine = manager.currentKeyId();
  const keys = (data ?? [])
    .filter((k) => showAll || status(k, nowS) === "active")
    .sort((a, b) => b.created_at - a.created_at || a.key_id.localeCompare(b.key_id));

  return (
    <div>
      <PageHead title="API keys" sub="Programs use a key's SDK token for the data API. A revoked key stops working at its next request.">
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New key
        </button>
      </PageHead>
      <label className="check">
        <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} />
        <span>Show revoked and expired keys</span>
      </label>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="keys" />}
      {data && keys.length === 0 && <p className="empty">No keys.</p>}
      {keys.length > 0 && (
        <DataTable label="API keys" columns={["Name", "Key id", "Owner", "Scopes", "Collections", "Created", "Expires", "Status", ACTIONS]}>
          {keys.map((k) => {
            const st = status(k, nowS);
            return (
              <tr key={k.key_id} data-key={k.key_id}>
                <th scope="row">
                  {k.name}
                  {k.key_id === mine && <span className="badge">this console session</span>}
                  {k.name === SESSION_KEY_NAME && k.key_id !== mine && <span className="badge dim">console</span>}
                </th>
                <td>
                  <code>{k.key_id}</code>
                </td>
                <td>{k.owner}</td>
                <td>{k.scopes.join(", ")}</td>
                <td>{k.collections ? k.collections.join(", ") : "all"}</td>
                <td>{time(k.created_at)}</td>
                <td>{k.expires_at ? time(k.expires_at) : "never"}</td>
                <td>
                  <span className={`badge ${st}`}>{st}</span>
                </td>
                <td className="links">
                  {st === "active" && (
                    <button type="button" className="small danger" onClick={() => setRevoking(k)} aria-label={`Revoke key ${k.name} (${k.key_id})`}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </DataTable>
      )}
      <Dialog open={creating} title="New API key" onClose={() => setCreating(false)}>
        <CreateKeyForm
          onCreated={(k) => {
            setCreating(false);
            setCreated(k);
            void reload();
          }}
        />
      </Dialog>
      <TokenOnce created={created} onClose={() => setCreated(null)} />
      <Confirm
        open={revoking !== null}
        title="Revoke API key"
        message={
          <p>
            Revoke <strong>{revoking?.name}</strong> (<code>{revoking?.key_id}</code>)? Every program using its token is refused
            from its next request on.
            {revoking?.key_id === mine && " This is the key this console session uses for data; the console makes a new one."}
          </p>
        }
        action="Revoke"
        onConfirm={async () => {
          await api.revokeKey(revoking!.key_id);
          if (revoking!.key_id === mine) manager.dropDataKey(manager.session?.dataKey?.token ?? "");
          void reload();
        }}
        onClose={() => setRevoking(null)}
      />
    </div>
  );
}
