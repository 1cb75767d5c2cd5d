import { useState } from "react";
import { api, useIsAdmin } from "../context";
import { Confirm, ErrorBox, Loading, PageHead, useLoad, DataTable, ACTIONS } from "../components/ui";
import { Link, navigate } from "../router";
import { bytes, count } from "../lib/format";
import type { PayloadType } from "../lib/api";

function Indexes({ name }: { name: string }) {
  const { data, error, reload } = useLoad(() => api.listIndexes(name), [name]);
  const [field, setField] = useState("");
  const [type, setType] = useState<PayloadType>("keyword");
  const [formError, setFormError] = useState<unknown>(null);
  const [dropping, setDropping] = useState<string | null>(null);

  return (
    <section aria-labelledby="indexes-title">
      <h2 id="indexes-title">Payload indexes</h2>
      <p className="muted">
        Indexes on metadata fields speed up filters (<code>where</code>) on those fields. They are kept in step with every
        write.
      </p>
      <ErrorBox error={error} />
      {data && data.length === 0 && <p className="empty">No payload indexes.</p>}
      {data && data.length > 0 && (
        <DataTable label="Payload indexes" columns={["Field", "Type", ACTIONS]}>
          {data.map((ix) => (
            <tr key={ix.field}>
              <th scope="row">
                <code>{ix.field}</code>
              </th>
              <td>{ix.type}</td>
              <td className="links">
                <button type="button" className="small" onClick={() => setDropping(ix.field)} aria-label={`Drop index on ${ix.field}`}>
                  Drop
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <form
        className="inline-form"
        aria-label="New payload index"
        onSubmit={async (e) => {
          e.preventDefault();
          setFormError(null);
          try {
            await api.createIndex(name, field, type);
            setField("");
            void reload();
          } catch (err) {
            setFormError(err);
          }
        }}
      >
        <label className="field">
          <span>Field</span>
          <input name="field" required value={field} onChange={(e) => setField(e.target.value)} placeholder="genre" spellCheck={false} />
        </label>
        <label className="field">
          <span>Type</span>
          <select name="type" value={type} onChange={(e) => setType(e.target.value as PayloadType)}>
            <option value="keyword">keyword</option>
            <option value="integer">integer</option>
            <option value="float">float</option>
            <option value="bool">bool</option>
          </select>
        </label>
        <button type="submit">Add index</button>
      </form>
      <ErrorBox error={formError} />
      <Confirm
        open={dropping !== null}
        title="Drop payload index"
        message={
          <p>
            Drop the index on <code>{dropping}</code>? Filters on it keep working, only slower.
          </p>
        }
        action="Drop index"
        onConfirm={async () => {
          await api.dropIndex(name, dropping!);
          void reload();
        }}
        onClose={() => setDropping(null)}
      />
    </section>
  );
}

export function CollectionPage({ name }: { name: string }) {
  const admin = useIsAdmin();
  const { data, error, loading, reload } = useLoad(() => api.getCollection(name), [name]);
  const [deleting, setDeleting] = useState(false);
  const enc = encodeURIComponent(name);

  return (
    <div>
      <PageHead title={name} sub={<Link to="/collections">← All collections</Link>}>
        <Link className="button" to={`/collections/${enc}/points`}>
          Browse points
        </Link>
        <Link className="button" to={`/collections/${enc}/search`}>
          Search
        </Link>
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
        {admin && (
          <button type="button" className="danger" onClick={() => setDeleting(true)}>
            Delete…
          </button>
        )}
      </PageHead>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="the collection" />}
      {data && (
        <>
          <dl className="stats">
            <div>
              <dt>Points</dt>
              <dd>{count(data.stats.count)}</dd>
            </div>
            <div>
              <dt>Dimension</dt>
              <dd>{data.config.dim}</dd>
            </div>
            <div>
              <dt>Metric</dt>
              <dd>{data.config.metric}</dd>
            </div>
            <div>
              <dt>Index</dt>
              <dd>{data.stats.index_kind}</dd>
            </div>
            <div>
              <dt>Index memory</dt>
              <dd>{bytes(data.stats.index_memory_bytes)}</dd>
            </div>
            <div>
              <dt>Disk</dt>
              <dd>{bytes(data.stats.disk_bytes)}</dd>
            </div>
            <div>
              <dt>Deleted slots</dt>
              <dd>{count(data.stats.deleted_slots)}</dd>
            </div>
          </dl>
          <Indexes name={name} />
          <section aria-labelledby="config-title">
            <h2 id="config-title">Configuration</h2>
            <pre className="code">{JSON.stringify(data.config, null, 2)}</pre>
          </section>
        </>
      )}
      <Confirm
        open={deleting}
        title="Delete collection"
        message={
          <p>
            This deletes <strong>{name}</strong> and all {data ? count(data.stats.count) : ""} of its points, with its files.
            It cannot be undone.
          </p>
        }
        action="Delete collection"
        typeToConfirm={name}
        onConfirm={async () => {
          await api.dropCollection(name);
          navigate("/collections", { replace: true });
        }}
        onClose={() => setDeleting(false)}
      />
    </div>
  );
}
