import { useState } from "react";
import { api } from "../context";
import { ErrorBox, Loading, PageHead, useLoad, DataTable, num } from "../components/ui";
import { time } from "../lib/format";

export function AuditPage() {
  const [limit, setLimit] = useState(100);
  const [filter, setFilter] = useState("");
  const { data, error, loading, reload } = useLoad(() => api.audit(limit), [limit]);
  const kinds = [...new Set((data ?? []).map((e) => e.event))].sort();
  const events = (data ?? []).filter((e) => !filter || e.event === filter);

  return (
    <div>
      <PageHead title="Audit log" sub="Logins, keys, users, passwords and signing keys, newest first.">
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
      </PageHead>
      <div className="row">
        <label className="field narrow">
          <span>Event</span>
          <select value={filter} onChange={(e) => setFilter(e.target.value)}>
            <option value="">all</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label className="field narrow">
          <span>Newest</span>
          <select value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
            {[100, 500, 1000, 10000].map((n) => (
              <option key={n} value={n}>
                {n} events
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="the audit log" />}
      {data && (
        <DataTable label="Audit events" columns={[num("#"), "Time", "Event", "User", "Peer", "Detail"]}>
          {events.map((e) => (
            <tr key={e.seq}>
              <td className="num">{e.seq}</td>
              <td className="nowrap">{time(e.ts)}</td>
              <td>
                <span className={e.event.includes("fail") || e.event.includes("limited") ? "badge revoked" : "badge dim"}>
                  {e.event}
                </span>
              </td>
              <td>{e.user}</td>
              <td>{e.peer}</td>
              <td>
                <code className="meta">{Object.keys(e.detail ?? {}).length ? JSON.stringify(e.detail) : ""}</code>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </div>
  );
}
