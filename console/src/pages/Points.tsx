import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../context";
import { CopyButton, Dialog, ErrorBox, PageHead, useLoad, DataTable } from "../components/ui";
import { WhereEditor, type WhereState } from "../components/WhereEditor";
import { Link } from "../router";
import { count } from "../lib/format";
import type { Point } from "../lib/api";

const PAGE = 50;

function preview(m: Point["metadata"]): string {
  if (!m) return "";
  const s = JSON.stringify(m);
  return s.length > 140 ? s.slice(0, 139) + "…" : s;
}

function norm(v: number[]): number {
  return Math.sqrt(v.reduce((a, x) => a + x * x, 0));
}

export function PointDialog({ collection, id, onClose }: { collection: string; id: string | null; onClose: () => void }) {
  const { data, error, loading } = useLoad(
    async () => (id === null ? null : (await api.getPoints(collection, [id])).points[0] ?? null),
    [collection, id],
  );
  const vec = data?.vector ?? [];
  const vecText = JSON.stringify(vec);
  return (
    <Dialog open={id !== null} title={`Point ${id ?? ""}`} onClose={onClose} wide>
      <ErrorBox error={error} />
      {loading && <p role="status">Loading…</p>}
      {!loading && id !== null && data === null && <p>This point no longer exists.</p>}
      {data && (
        <>
          <h3>Metadata</h3>
          <pre className="code" data-testid="point-metadata">
            {data.metadata ? JSON.stringify(data.metadata, null, 2) : "(none)"}
          </pre>
          <h3>
            Vector <span className="muted">({vec.length} dimensions, norm {norm(vec).toFixed(4)})</span>
          </h3>
          <pre className="code vector" data-testid="point-vector">
            {vecText}
          </pre>
          <div className="actions">
            <CopyButton text={vecText} label="Copy vector" />
            <Link
              className="button primary"
              to={`/collections/${encodeURIComponent(collection)}/search?point=${encodeURIComponent(data.id)}`}
            >
              Search similar
            </Link>
          </div>
        </>
      )}
    </Dialog>
  );
}

export function PointsPage({ name }: { name: string }) {
  const [whereText, setWhereText] = useState("");
  const [applied, setApplied] = useState<{ where?: Record<string, unknown>; total: number | null } | null>(null);
  const [points, setPoints] = useState<Point[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const gen = useRef(0);
  const total = useLoad(() => api.count(name), [name]);

  const loadPage = useCallback(
    async (where: Record<string, unknown> | undefined, from: string | null, reset: boolean) => {
      const my = reset ? ++gen.current : gen.current;
      setBusy(true);
      try {
        const page = await api.scroll(name, { limit: PAGE, cursor: from, where });
        if (my !== gen.current) return;
        setPoints((p) => (reset ? page.points : [...p, ...page.points]));
        setCursor(page.next_cursor);
        setDone(page.next_cursor === null);
        setError(null);
      } catch (e) {
        if (my === gen.current) setError(e);
      } finally {
        if (my === gen.current) setBusy(false);
      }
    },
    [name],
  );

  // A valid filter (or none) is applied as soon as the server has checked it.
  const onWhere = useCallback(
    (s: WhereState) => {
      if (s.kind === "empty") {
        setApplied({ total: null });
        void loadPage(undefined, null, true);
      } else if (s.kind === "ok") {
        setApplied({ where: s.where, total: s.count });
        void loadPage(s.where, null, true);
      }
    },
    [loadPage],
  );

  // Scrolling to the end of the list loads the next page.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || done) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !busy && cursor) void loadPage(applied?.where, cursor, false);
    });
    io.observe(el);
    return () => io.disconnect();
  }, [cursor, done, busy, applied, loadPage]);

  const shownTotal = applied?.where ? applied.total : total.data;

  return (
    <div>
      <PageHead
        title={`Points in ${name}`}
        sub={<Link to={`/collections/${encodeURIComponent(name)}`}>← {name}</Link>}
      >
        <button
          type="button"
          onClick={() => {
            void total.reload();
            void loadPage(applied?.where, null, true);
          }}
        >
          Refresh
        </button>
      </PageHead>
      <WhereEditor collection={name} value={whereText} onChange={setWhereText} onState={onWhere} />
      <ErrorBox error={error ?? total.error} />
      <p className="muted" role="status" data-testid="points-shown">
        Showing {count(points.length)}
        {shownTotal !== null && shownTotal !== undefined ? ` of ${count(shownTotal)}` : ""} point
        {shownTotal === 1 ? "" : "s"}
        {applied?.where ? " matching the filter" : ""}, in id order.
      </p>
      <DataTable label="Points" columns={["Id", "Metadata"]} className="points">
        {points.map((p) => (
          <tr key={p.id}>
            <th scope="row">
              <button type="button" className="linklike" onClick={() => setOpen(p.id)} aria-label={`Open point ${p.id}`}>
                {p.id}
              </button>
            </th>
            <td>
              <code className="meta">{preview(p.metadata)}</code>
            </td>
          </tr>
        ))}
      </DataTable>
      {!done && (
        <div ref={sentinel} className="more">
          <button type="button" disabled={busy || !cursor} onClick={() => void loadPage(applied?.where, cursor, false)}>
            {busy ? "Loading…" : "Load more"}
          </button>
        </div>
      )}
      {done && points.length === 0 && <p className="empty">No points{applied?.where ? " match this filter" : ""}.</p>}
      <PointDialog collection={name} id={open} onClose={() => setOpen(null)} />
    </div>
  );
}
