import { useState } from "react";
import { api, useIsAdmin } from "../context";
import { ACTIONS, ActionForm, DataTable, Dialog, ErrorBox, Loading, PageHead, num, useLoad } from "../components/ui";
import { Link, navigate } from "../router";
import { bytes, count } from "../lib/format";
import type { Metric } from "../lib/api";

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

function CreateCollectionForm({ onDone }: { onDone: (name: string) => void }) {
  const [name, setName] = useState("");
  const [dim, setDim] = useState("");
  const [metric, setMetric] = useState<Metric>("cosine");
  const [m, setM] = useState("16");
  const [efc, setEfc] = useState("200");
  const [efs, setEfs] = useState("64");
  const [shards, setShards] = useState("1");
  const nameBad = name !== "" && !NAME_RE.test(name);

  return (
    <ActionForm
      label="Create collection"
      busyLabel="Creating…"
      disabled={nameBad}
      onSubmit={async () => {
        await api.createCollection({
          name,
          dim: Number(dim),
          metric,
          hnsw: { m: Number(m), ef_construction: Number(efc), ef_search: Number(efs) },
          shards: Number(shards),
        });
        onDone(name);
      }}
    >
      <label className="field">
        <span>Name</span>
        <input
          name="name"
          required
          autoFocus
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={nameBad}
          aria-describedby="name-hint"
          spellCheck={false}
        />
        <small id="name-hint" className={nameBad ? "bad" : "hint"}>
          1–64 letters, digits, _ or -
        </small>
      </label>
      <div className="row">
        <label className="field">
          <span>Dimension</span>
          <input name="dim" type="number" min={1} max={65536} required value={dim} onChange={(e) => setDim(e.target.value)} />
        </label>
        <label className="field">
          <span>Metric</span>
          <select name="metric" value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
            <option value="cosine">cosine</option>
            <option value="l2">l2 (squared Euclidean)</option>
            <option value="ip">ip (inner product)</option>
          </select>
        </label>
      </div>
      <details>
        <summary>Index and shards</summary>
        <div className="row">
          <label className="field">
            <span>HNSW M</span>
            <input type="number" min={2} max={512} value={m} onChange={(e) => setM(e.target.value)} />
          </label>
          <label className="field">
            <span>ef_construction</span>
            <input type="number" min={1} value={efc} onChange={(e) => setEfc(e.target.value)} />
          </label>
          <label className="field">
            <span>ef_search (default)</span>
            <input type="number" min={1} value={efs} onChange={(e) => setEfs(e.target.value)} />
          </label>
          <label className="field">
            <span>Shards</span>
            <input type="number" min={1} max={256} value={shards} onChange={(e) => setShards(e.target.value)} />
          </label>
        </div>
      </details>
    </ActionForm>
  );
}

export function CollectionsPage() {
  const admin = useIsAdmin();
  const { data, error, loading, reload } = useLoad(() => api.listCollections(), []);
  const [creating, setCreating] = useState(false);

  return (
    <div>
      <PageHead title="Collections" sub="Every collection you may see, with its size and index.">
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
        {admin && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New collection
          </button>
        )}
      </PageHead>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="collections" />}
      {data && data.length === 0 && (
        <p className="empty">No collections yet.{admin ? " Create one with “New collection”." : ""}</p>
      )}
      {data && data.length > 0 && (
        <DataTable label="Collections" columns={["Name", num("Points"), num("Dim"), "Metric", "Index", num("Memory"), num("Disk"), num("Shards"), ACTIONS]}>
          {data.map((c) => (
            <tr key={c.name}>
              <th scope="row">
                <Link to={`/collections/${encodeURIComponent(c.name)}`}>{c.name}</Link>
              </th>
              <td className="num">{count(c.count)}</td>
              <td className="num">{c.dim}</td>
              <td>{c.metric}</td>
              <td>{c.index_kind ?? "—"}</td>
              <td className="num">{bytes(c.index_memory_bytes)}</td>
              <td className="num">{bytes(c.disk_bytes)}</td>
              <td className="num">{c.shards}</td>
              <td className="links">
                <Link to={`/collections/${encodeURIComponent(c.name)}/points`} aria-label={`Points of ${c.name}`}>
                  Points
                </Link>
                <Link to={`/collections/${encodeURIComponent(c.name)}/search`} aria-label={`Search ${c.name}`}>
                  Search
                </Link>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <Dialog open={creating} title="New collection" onClose={() => setCreating(false)}>
        <CreateCollectionForm
          onDone={(name) => {
            setCreating(false);
            void reload();
            navigate(`/collections/${encodeURIComponent(name)}`);
          }}
        />
      </Dialog>
    </div>
  );
}
