import { useEffect, useRef, useState } from "react";
import { api } from "../context";
import { LineChart } from "../components/Chart";
import { ErrorBox, PageHead, DataTable, num } from "../components/ui";
import { parseProm, rates, gauge, type Rates, type Sample } from "../lib/prom";
import { bytes, count, ms } from "../lib/format";

const KEEP = 150; // Points per chart.

export function MetricsPage() {
  const [periodS, setPeriodS] = useState(2);
  const [paused, setPaused] = useState(false);
  const [history, setHistory] = useState<Rates[]>([]);
  const [last, setLast] = useState<Sample[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const prev = useRef<{ samples: Sample[]; t: number } | null>(null);

  useEffect(() => {
    if (paused) return;
    let stop = false;
    const ctl = new AbortController();
    const tick = async () => {
      if (document.hidden) return;
      try {
        const text = await api.metricsText(ctl.signal);
        if (stop) return;
        const t = performance.now();
        const samples = parseProm(text);
        const p = prev.current;
        if (p) {
          const r = rates(p.samples, samples, (t - p.t) / 1000, Date.now());
          setHistory((h) => [...h.slice(-(KEEP - 1)), r]);
        }
        prev.current = { samples, t };
        setLast(samples);
        setError(null);
      } catch (e) {
        if (!stop) setError(e);
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), periodS * 1000);
    return () => {
      stop = true;
      ctl.abort();
      clearInterval(timer);
    };
  }, [periodS, paused]);

  const times = history.map((r) => r.tMs);
  const col = (f: (r: Rates) => number | null) => history.map(f);
  const qpsFmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  const collections = (last ?? []).filter((s) => s.name === "vectron_collection_points");

  return (
    <div>
      <PageHead title="Metrics" sub="From /metrics, refreshed live. The console's own /metrics requests are left out of the rates.">
        <label className="field inline">
          <span>Every</span>
          <select value={periodS} onChange={(e) => setPeriodS(Number(e.target.value))}>
            {[1, 2, 5, 10].map((s) => (
              <option key={s} value={s}>
                {s} s
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
      </PageHead>
      <ErrorBox error={error} />
      {history.length === 0 && !error && (
        <p className="muted" role="status">
          Collecting the first two samples…
        </p>
      )}
      <div className="charts">
        <LineChart
          title="Requests per second"
          unit="req/s"
          times={times}
          format={qpsFmt}
          series={[
            { label: "HTTP", values: col((r) => r.httpQps) },
            { label: "RPC", values: col((r) => r.rpcQps) },
            { label: "searches", values: col((r) => r.searchQps) },
            { label: "upserts+deletes", values: col((r) => r.writeQps) },
            { label: "errors", values: col((r) => r.errorQps) },
          ]}
        />
        <LineChart
          title="Latency (HTTP and RPC)"
          unit="ms, over each interval"
          times={times}
          format={(v) => (v >= 10 ? `${v.toFixed(0)} ms` : v >= 1 ? `${v.toFixed(1)} ms` : ms(v))}
          series={[
            { label: "p50", values: col((r) => r.p50Ms) },
            { label: "p95", values: col((r) => r.p95Ms) },
            { label: "p99", values: col((r) => r.p99Ms) },
          ]}
        />
      </div>
      {last && (
        <>
          <h2>Now</h2>
          <dl className="stats">
            {(
              [
                ["HTTP connections", "vectron_http_connections"],
                ["RPC connections", "vectron_rpc_connections"],
                ["Worker threads", "vectron_worker_threads"],
                ["Busy workers", "vectron_worker_busy"],
                ["Queued calls", "vectron_worker_queue_depth"],
                ["Queue capacity", "vectron_worker_queue_capacity"],
              ] as const
            ).map(([label, name]) => (
              <div key={name}>
                <dt>{label}</dt>
                <dd>{count(gauge(last, name))}</dd>
              </div>
            ))}
          </dl>
          {collections.length > 0 && (
            <DataTable label="Collections in /metrics" columns={["Collection", num("Points"), num("Index memory"), num("Disk")]}>
              {collections.map((s) => {
                const c = s.labels.collection;
                const find = (n: string) => last.find((x) => x.name === n && x.labels.collection === c)?.value;
                return (
                  <tr key={c}>
                    <th scope="row">{c}</th>
                    <td className="num">{count(s.value)}</td>
                    <td className="num">{bytes(find("vectron_collection_index_memory_bytes"))}</td>
                    <td className="num">{bytes(find("vectron_collection_disk_bytes"))}</td>
                  </tr>
                );
              })}
            </DataTable>
          )}
        </>
      )}
    </div>
  );
}
