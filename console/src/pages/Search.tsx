import { useEffect, useState } from "react";
import { api, useSession } from "../context";
import { ActionForm, CopyButton, DataTable, ErrorBox, PageHead, num, useLoad } from "../components/ui";
import { WhereEditor, type WhereState } from "../components/WhereEditor";
import { PointDialog } from "./Points";
import { navigate } from "../router";
import { score } from "../lib/format";
import { curlSnippet, pythonSnippet } from "../lib/snippets";
import { checkWhereSyntax } from "../lib/where";
import type { Hit, SearchBody } from "../lib/api";

// A pasted vector: a JSON array of `dim` finite numbers, or a message saying what is wrong.
export function parseVector(text: string, dim: number): number[] | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "not a JSON array of numbers, e.g. [0.1, 0.2, 0.3]";
  }
  if (!Array.isArray(v)) return "not a JSON array of numbers, e.g. [0.1, 0.2, 0.3]";
  const bad = v.findIndex((x) => typeof x !== "number" || !Number.isFinite(x));
  if (bad >= 0) return `element ${bad} is not a finite number`;
  if (v.length !== dim) return `has ${v.length} numbers; the collection's dimension is ${dim}`;
  return v as number[];
}

function CollectionPicker() {
  const { data, error } = useLoad(() => api.listCollections(), []);
  return (
    <div>
      <PageHead title="Search" sub="Pick a collection to search." />
      <ErrorBox error={error} />
      {data && data.length === 0 && <p className="empty">No collections yet.</p>}
      {data && data.length > 0 && (
        <label className="field narrow">
          <span>Collection</span>
          <select
            defaultValue=""
            onChange={(e) => e.target.value && navigate(`/collections/${encodeURIComponent(e.target.value)}/search`)}
          >
            <option value="" disabled>
              Choose…
            </option>
            {data.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name} ({c.dim}-d, {c.metric})
              </option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}

export function SearchPage({ name, pointId }: { name: string; pointId: string }) {
  if (!name) return <CollectionPicker />;
  return <Playground key={name} name={name} initialPoint={pointId} />;
}

function Playground({ name, initialPoint }: { name: string; initialPoint: string }) {
  const { mode } = useSession();
  const info = useLoad(() => api.getCollection(name), [name]);
  const [source, setSource] = useState<"point" | "vector">("point");
  const [pointId, setPointId] = useState(initialPoint);
  const [vectorText, setVectorText] = useState("");
  const [k, setK] = useState("10");
  const [ef, setEf] = useState("");
  const [exact, setExact] = useState(false);
  const [withMeta, setWithMeta] = useState(true);
  const [whereText, setWhereText] = useState("");
  const [where, setWhere] = useState<WhereState>({ kind: "empty" });
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [body, setBody] = useState<SearchBody | null>(null);
  const [took, setTook] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  const [tab, setTab] = useState<"curl" | "python">("curl");

  useEffect(() => setPointId(initialPoint), [initialPoint]);
  const dim = info.data?.config.dim ?? 0;
  const vectorProblem = source === "vector" && vectorText.trim() && dim ? parseVector(vectorText, dim) : null;

  async function run() {
    let vector: number[];
    if (source === "point") {
      if (!pointId.trim()) throw new Error("Give the id of a point to use as the query.");
      const got = await api.getPoints(name, [pointId.trim()]);
      if (!got.points[0]?.vector) throw new Error(`There is no point "${pointId.trim()}" in ${name}.`);
      vector = got.points[0].vector;
    } else {
      const v = parseVector(vectorText, dim);
      if (typeof v === "string") throw new Error(`The vector ${v}.`);
      vector = v;
    }
    // A filter still being checked goes as typed: the search checks it too.
    const local = checkWhereSyntax(whereText);
    if (where.kind === "problem" || local.kind === "problem")
      throw new Error("Fix the filter first (see below the filter box).");
    const b: SearchBody = { vector, k: Number(k) };
    if (ef.trim()) b.ef = Number(ef);
    if (exact) b.exact = true;
    if (local.kind === "ok") b.where = local.where;
    if (withMeta) b.include = ["metadata"];
    const t0 = performance.now();
    const h = await api.search(name, b);
    setTook(performance.now() - t0);
    setHits(h);
    setBody(b);
  }

  const path = `/v1/collections/${encodeURIComponent(name)}/search`;
  const auth = mode === "on";
  const snippet = body
    ? tab === "curl"
      ? curlSnippet(window.location.origin, path, body, auth)
      : pythonSnippet(window.location.origin, path, body, auth)
    : "";

  return (
    <div>
      <PageHead
        title={`Search ${name}`}
        sub={info.data ? `${info.data.config.dim} dimensions, ${info.data.config.metric}; score is a distance: lower is nearer.` : undefined}
      />
      <ErrorBox error={info.error} />
      <ActionForm className="card" ariaLabel="Search query" label="Search" busyLabel="Searching…" onSubmit={run}>
        <fieldset className="radios">
          <legend>Query</legend>
          <label className="check">
            <input type="radio" name="source" checked={source === "point"} onChange={() => setSource("point")} />
            <span>A point's vector</span>
          </label>
          <label className="check">
            <input type="radio" name="source" checked={source === "vector"} onChange={() => setSource("vector")} />
            <span>A pasted vector</span>
          </label>
        </fieldset>
        {source === "point" ? (
          <label className="field">
            <span>Point id</span>
            <input name="point" value={pointId} onChange={(e) => setPointId(e.target.value)} spellCheck={false} />
          </label>
        ) : (
          <label className="field">
            <span>Vector (JSON array of {dim || "…"} numbers)</span>
            <textarea
              name="vector"
              rows={3}
              value={vectorText}
              onChange={(e) => setVectorText(e.target.value)}
              spellCheck={false}
              aria-invalid={typeof vectorProblem === "string"}
              aria-describedby="vector-status"
            />
            <small id="vector-status" className={typeof vectorProblem === "string" ? "bad" : "hint"}>
              {typeof vectorProblem === "string" ? `The vector ${vectorProblem}.` : vectorProblem ? "Looks right." : ""}
            </small>
          </label>
        )}
        <div className="row">
          <label className="field">
            <span>k (results)</span>
            <input name="k" type="number" min={1} max={10000} required value={k} onChange={(e) => setK(e.target.value)} />
          </label>
          <label className="field">
            <span>ef (beam width)</span>
            <input
              name="ef"
              type="number"
              min={1}
              value={ef}
              placeholder={String(info.data?.config.hnsw && (info.data.config.hnsw as { ef_search?: number }).ef_search || "default")}
              onChange={(e) => setEf(e.target.value)}
            />
          </label>
          <label className="check">
            <input type="checkbox" checked={exact} onChange={(e) => setExact(e.target.checked)} />
            <span>Exact (brute force)</span>
          </label>
          <label className="check">
            <input type="checkbox" checked={withMeta} onChange={(e) => setWithMeta(e.target.checked)} />
            <span>Include metadata</span>
          </label>
        </div>
        <WhereEditor collection={name} value={whereText} onChange={setWhereText} onState={setWhere} />
      </ActionForm>

      {hits && (
        <section aria-labelledby="results-title">
          <h2 id="results-title">
            Results <span className="muted">({hits.length} in {took.toFixed(1)} ms, round trip)</span>
          </h2>
          {hits.length === 0 ? (
            <p className="empty">No results.</p>
          ) : (
            <DataTable
              label="Results"
              testId="results"
              columns={[num("#"), "Id", num("Score"), withMeta && "Metadata"]}
            >
              {hits.map((h, i) => (
                <tr key={h.id}>
                  <td className="num">{i + 1}</td>
                  <th scope="row">
                    <button type="button" className="linklike" onClick={() => setOpen(h.id)} aria-label={`Open point ${h.id}`}>
                      {h.id}
                    </button>
                  </th>
                  <td className="num">
                    <code>{score(h.score)}</code>
                  </td>
                  {withMeta && (
                    <td>
                      <code className="meta">{h.metadata ? JSON.stringify(h.metadata) : ""}</code>
                    </td>
                  )}
                </tr>
              ))}
            </DataTable>
          )}
          <h2>The same request in code</h2>
          <p className="muted">
            {auth ? (
              <>
                Set <code>VECTRON_TOKEN</code> to an SDK token with the <code>read</code> scope (make one under API keys)
                {window.location.protocol === "https:" && (
                  <>
                    {" "}
                    and <code>VECTRON_CA</code> to the server's certificate (e.g. <code>vectron-data/tls/cert.pem</code>)
                  </>
                )}
                .
              </>
            ) : window.location.protocol === "https:" ? (
              <>
                Set <code>VECTRON_CA</code> to the server's certificate.
              </>
            ) : null}
          </p>
          <div className="tabs" role="tablist" aria-label="Snippet language">
            {(["curl", "python"] as const).map((t) => (
              <button
                key={t}
                type="button"
                role="tab"
                id={`tab-${t}`}
                aria-selected={tab === t}
                aria-controls="snippet"
                tabIndex={tab === t ? 0 : -1}
                onClick={() => setTab(t)}
                onKeyDown={(e) => {
                  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
                    const next = t === "curl" ? "python" : "curl";
                    setTab(next);
                    document.getElementById(`tab-${next}`)?.focus();
                  }
                }}
              >
                {t === "curl" ? "curl" : "Python"}
              </button>
            ))}
          </div>
          <div id="snippet" role="tabpanel" aria-labelledby={`tab-${tab}`}>
            <pre className="code" data-testid="snippet">
              {snippet}
            </pre>
            <CopyButton text={snippet} label={`Copy ${tab === "curl" ? "curl" : "Python"}`} />
          </div>
        </section>
      )}
      <PointDialog collection={name} id={open} onClose={() => setOpen(null)} />
    </div>
  );
}
