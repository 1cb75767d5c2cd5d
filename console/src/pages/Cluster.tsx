import { api } from "../context";
import { ErrorBox, Loading, PageHead, useLoad, DataTable, num } from "../components/ui";
import { fromGateway, singleNode, type ClusterView } from "../lib/cluster";
import { parseProm } from "../lib/prom";
import { bytes, count } from "../lib/format";

async function loadView(): Promise<ClusterView> {
  const raw = await api.cluster();
  if (raw !== null) return fromGateway(raw);
  const [ready, collections, metrics] = await Promise.all([
    api.readyz().then(
      () => true,
      () => false,
    ),
    api.listCollections(),
    api.metricsText().then(parseProm, () => []),
  ]);
  return singleNode(window.location.host, ready, collections, metrics);
}

function Live({ ok, yes, no }: { ok: boolean; yes: string; no: string }) {
  return <span className={ok ? "badge active" : "badge revoked"}>{ok ? yes : no}</span>;
}

export function ClusterPage() {
  const { data: v, error, loading, reload } = useLoad(loadView, []);
  return (
    <div>
      <PageHead
        title="Cluster"
        sub={
          v?.mode === "single-node"
            ? "vectron serve: one node in every role (placement, worker and gateway), every shard local."
            : "Placement driver, workers and shards, as the gateway sees them."
        }
      >
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
      </PageHead>
      <ErrorBox error={error} />
      {loading && !v && <Loading what="the cluster" />}
      {v && (
        <>
          <section aria-labelledby="pd-title">
            <h2 id="pd-title">Placement driver</h2>
            <DataTable label="Placement driver members" columns={["Member", "Address", "Role", "Health"]}>
              {v.pd.map((m) => (
                <tr key={m.id}>
                  <th scope="row">{m.id}</th>
                  <td>{m.address}</td>
                  <td>{m.leader ? "leader" : "follower"}</td>
                  <td>
                    <Live ok={m.healthy} yes="healthy" no="unreachable" />
                  </td>
                </tr>
              ))}
            </DataTable>
          </section>
          <section aria-labelledby="workers-title">
            <h2 id="workers-title">Workers</h2>
            <div className="cards">
              {v.workers.map((w) => (
                <div className="card node" key={w.id}>
                  <h3>
                    {w.id} <Live ok={w.alive} yes={v.mode === "single-node" ? "ready" : "alive"} no="down" />
                  </h3>
                  <p className="muted">{w.address}</p>
                  <dl className="mini">
                    <div>
                      <dt>shard replicas</dt>
                      <dd>{w.shards}</dd>
                    </div>
                    {w.last_heartbeat_ms !== undefined && (
                      <div>
                        <dt>last heartbeat</dt>
                        <dd>{(w.last_heartbeat_ms / 1000).toFixed(1)} s ago</dd>
                      </div>
                    )}
                    {Object.entries(w.detail ?? {}).map(([k, val]) => (
                      <div key={k}>
                        <dt>{k}</dt>
                        <dd>{val}</dd>
                      </div>
                    ))}
                  </dl>
                </div>
              ))}
            </div>
          </section>
          <section aria-labelledby="shards-title">
            <h2 id="shards-title">Shards</h2>
            {v.shards.length === 0 ? (
              <p className="empty">No collections, so no shards.</p>
            ) : (
              <DataTable label="Shards" columns={["Collection", "Shard", "Ids", "Replicas", "Leader", num("Points"), num("Disk")]}>
                {v.shards.map((s) => (
                  <tr key={`${s.collection}/${s.shard}`}>
                    <th scope="row">{s.collection}</th>
                    <td>
                      {s.shard}
                      {s.epoch !== undefined && <span className="muted"> (epoch {s.epoch})</span>}
                    </td>
                    <td>{s.range ?? "—"}</td>
                    <td>{s.replicas.map((r) => `${r.worker}${r.role === "leader" ? "" : ` (${r.role})`}`).join(", ")}</td>
                    <td>{s.replicas.find((r) => r.role === "leader")?.worker ?? "none"}</td>
                    <td className="num">{s.points === undefined ? "—" : count(s.points)}</td>
                    <td className="num">{bytes(s.disk_bytes)}</td>
                  </tr>
                ))}
              </DataTable>
            )}
          </section>
          <section aria-labelledby="moves-title">
            <h2 id="moves-title">Moves in progress</h2>
            {v.moves.length === 0 ? (
              <p className="empty">{v.mode === "single-node" ? "None: a single node never moves shards." : "None."}</p>
            ) : (
              <ul>
                {v.moves.map((m) => (
                  <li key={`${m.collection}/${m.shard}/${m.to}`}>
                    {m.collection} shard {m.shard}: {m.from} → {m.to}
                    {m.progress !== undefined && <progress max={1} value={m.progress} aria-label="progress" />}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </div>
  );
}
