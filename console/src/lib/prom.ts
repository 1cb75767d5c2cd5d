// Reads the Prometheus text format of /metrics and turns two scrapes into rates:
// requests per second and latency quantiles over the interval between them.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(s: string, i: number, out: Record<string, string>): number {
  // s[i] is just past '{'. Returns the index just past '}'.
  while (i < s.length) {
    while (s[i] === " " || s[i] === ",") i++;
    if (s[i] === "}") return i + 1;
    const eq = s.indexOf("=", i);
    if (eq < 0 || s[eq + 1] !== '"') throw new Error("malformed label");
    const name = s.slice(i, eq).trim();
    let v = "";
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === "\\") {
        j++;
        v += s[j] === "n" ? "\n" : s[j];
      } else {
        v += s[j];
      }
    }
    if (j >= s.length) throw new Error("unterminated label value");
    out[name] = v;
    i = j + 1;
  }
  throw new Error("unterminated label set");
}

function parseValue(v: string): number {
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  if (v === "NaN") return NaN;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`bad value ${v}`);
  return n;
}

// Every sample in `text`; comments and malformed lines are skipped.
export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    try {
      const m = /^[A-Za-z_:][\w:]*/.exec(line);
      if (!m) continue;
      const name = m[0];
      const labels: Record<string, string> = {};
      let i = name.length;
      if (line[i] === "{") i = parseLabels(line, i + 1, labels);
      const rest = line.slice(i).trim().split(/\s+/);
      out.push({ name, labels, value: parseValue(rest[0]) });
    } catch {
      /* skip the line */
    }
  }
  return out;
}

export function sum(samples: Sample[], name: string, keep: (l: Record<string, string>) => boolean = () => true): number {
  let t = 0;
  for (const s of samples) if (s.name === name && keep(s.labels)) t += s.value;
  return t;
}

export function gauge(samples: Sample[], name: string): number | undefined {
  return samples.find((s) => s.name === name)?.value;
}

// Cumulative bucket counts by upper bound, summed over the series `keep` selects.
export function buckets(samples: Sample[], histogram: string, keep: (l: Record<string, string>) => boolean = () => true) {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== histogram + "_bucket" || !keep(s.labels)) continue;
    const le = parseValue(s.labels.le ?? "+Inf");
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

// The q-quantile (0..1) of a histogram given as cumulative buckets, interpolating
// linearly inside a bucket as Prometheus' histogram_quantile does. Null if empty.
export function quantile(q: number, bs: { le: number; count: number }[]): number | null {
  if (bs.length === 0) return null;
  const total = bs[bs.length - 1].count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of bs) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // Past the largest finite bound: report it.
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// Histograms with the same bounds added up (e.g. HTTP and RPC latency).
export function mergeBuckets(...lists: { le: number; count: number }[][]) {
  const merged = new Map<number, number>();
  for (const list of lists) for (const b of list) merged.set(b.le, (merged.get(b.le) ?? 0) + b.count);
  return [...merged.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

// Bucket counts of `cur` minus those of `prev` (a counter reset counts from zero).
export function bucketDelta(prev: { le: number; count: number }[], cur: { le: number; count: number }[]) {
  const before = new Map(prev.map((b) => [b.le, b.count]));
  const reset = cur.some((b) => b.count < (before.get(b.le) ?? 0));
  return cur.map((b) => ({ le: b.le, count: reset ? b.count : b.count - (before.get(b.le) ?? 0) }));
}

export interface Rates {
  tMs: number;
  httpQps: number;
  rpcQps: number;
  searchQps: number;
  writeQps: number;
  errorQps: number; // HTTP 5xx and RPC codes other than ok.
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

// The console's own polling of /metrics is left out of the rates.
const notMetrics = (l: Record<string, string>) => l.route !== "/metrics";
const isSearch = (l: Record<string, string>) => (l.route ?? "").endsWith("/search") || l.method === "Search";
const isWrite = (l: Record<string, string>) =>
  l.route === "/v1/collections/{name}/points" || l.method === "Upsert" || l.method === "Delete";

function rate(cur: number, prev: number, dtS: number): number {
  return cur >= prev ? (cur - prev) / dtS : cur / dtS;
}

// Rates over the interval between two scrapes taken `dtS` seconds apart.
export function rates(prev: Sample[], cur: Sample[], dtS: number, tMs: number): Rates {
  const http = "vectron_http_requests_total";
  const rpc = "vectron_rpc_requests_total";
  const r = (name: string, keep: (l: Record<string, string>) => boolean) => rate(sum(cur, name, keep), sum(prev, name, keep), dtS);
  const h = "vectron_http_request_duration_seconds";
  const g = "vectron_rpc_request_duration_seconds";
  const lat = bucketDelta(
    mergeBuckets(buckets(prev, h, notMetrics), buckets(prev, g)),
    mergeBuckets(buckets(cur, h, notMetrics), buckets(cur, g)),
  );
  const ms = (v: number | null) => (v === null ? null : v * 1000);
  return {
    tMs,
    httpQps: r(http, notMetrics),
    rpcQps: r(rpc, () => true),
    searchQps: r(http, (l) => notMetrics(l) && isSearch(l)) + r(rpc, isSearch),
    writeQps: r(http, (l) => isWrite(l) && l.method === "PUT") + r(rpc, isWrite),
    errorQps: r(http, (l) => (l.status ?? "").startsWith("5")) + r(rpc, (l) => l.code !== "ok"),
    p50Ms: ms(quantile(0.5, lat)),
    p95Ms: ms(quantile(0.95, lat)),
    p99Ms: ms(quantile(0.99, lat)),
  };
}
