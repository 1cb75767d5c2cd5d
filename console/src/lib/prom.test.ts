import { describe, expect, it } from "vitest";
import { bucketDelta, parseProm, quantile, rates } from "./prom";
import { singleNode, fromGateway } from "./cluster";
import { curlSnippet, pyLiteral, pythonSnippet, shellQuote } from "./snippets";

const BOUNDS = ["0.001", "0.01", "0.1", "+Inf"];

function scrape(searches: number, metrics: number, buckets: number[], rpcOk = 0): string {
  const lines = [
    "# HELP vectron_http_requests_total HTTP requests answered.",
    "# TYPE vectron_http_requests_total counter",
    `vectron_http_requests_total{method="POST",route="/v1/collections/{name}/search",status="200"} ${searches}`,
    `vectron_http_requests_total{method="GET",route="/metrics",status="200"} ${metrics}`,
    `vectron_rpc_requests_total{method="Search",code="ok"} ${rpcOk}`,
    ...BOUNDS.map(
      (le, i) => `vectron_http_request_duration_seconds_bucket{method="POST",route="/v1/collections/{name}/search",le="${le}"} ${buckets[i]}`,
    ),
    ...BOUNDS.map((le) => `vectron_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="${le}"} ${metrics}`),
    'vectron_collection_points{collection="a \\"quoted\\" name"} 42',
    "vectron_worker_threads 2",
  ];
  return lines.join("\n") + "\n";
}

describe("Prometheus text", () => {
  it("parses samples, labels with escapes, and skips comments", () => {
    const s = parseProm(scrape(1, 2, [0, 1, 1, 1]));
    expect(s.find((x) => x.name === "vectron_worker_threads")?.value).toBe(2);
    expect(s.find((x) => x.name === "vectron_collection_points")?.labels.collection).toBe('a "quoted" name');
    expect(s.filter((x) => x.name.startsWith("#")).length).toBe(0);
  });

  it("computes quantiles like histogram_quantile", () => {
    const b = [
      { le: 0.001, count: 0 },
      { le: 0.01, count: 50 },
      { le: 0.1, count: 100 },
      { le: Infinity, count: 100 },
    ];
    expect(quantile(0.5, b)).toBeCloseTo(0.01);
    expect(quantile(0.25, b)).toBeCloseTo(0.001 + 0.009 * 0.5);
    expect(quantile(0.99, b)).toBeCloseTo(0.01 + 0.09 * 0.98);
    expect(quantile(0.5, [{ le: Infinity, count: 0 }])).toBeNull();
    expect(quantile(0.99, [{ le: 0.1, count: 1 }, { le: Infinity, count: 10 }])).toBe(0.1);
  });

  it("takes rates and latency over the interval, leaving out /metrics polls", () => {
    const prev = parseProm(scrape(100, 10, [0, 80, 100, 100], 5));
    const cur = parseProm(scrape(300, 12, [0, 80, 300, 300], 25));
    const r = rates(prev, cur, 2, 1234);
    expect(r.httpQps).toBe(100); // (300 - 100) / 2; /metrics left out.
    expect(r.rpcQps).toBe(10);
    expect(r.searchQps).toBe(110);
    expect(r.errorQps).toBe(0);
    // All 200 new searches fell in (0.01, 0.1]: the median is in the middle of it.
    expect(r.p50Ms).toBeCloseTo(55);
    expect(r.tMs).toBe(1234);
  });

  it("treats a counter reset as counting from zero", () => {
    expect(bucketDelta([{ le: 1, count: 10 }], [{ le: 1, count: 3 }])).toEqual([{ le: 1, count: 3 }]);
    const r = rates(parseProm(scrape(1000, 0, [0, 0, 0, 0])), parseProm(scrape(20, 0, [0, 0, 0, 0])), 2, 0);
    expect(r.httpQps).toBe(10);
  });
});

describe("cluster view", () => {
  it("shows vectron serve as one node leading every shard", () => {
    const v = singleNode(
      "127.0.0.1:7700",
      true,
      [
        { name: "docs", dim: 4, metric: "cosine", shards: 1, count: 10, disk_bytes: 4096 },
        { name: "big", dim: 8, metric: "l2", shards: 2, count: 5 },
      ],
      parseProm("vectron_worker_threads 4\nvectron_http_connections 3\n"),
    );
    expect(v.mode).toBe("single-node");
    expect(v.pd).toEqual([{ id: "local", address: "127.0.0.1:7700", leader: true, healthy: true }]);
    expect(v.workers[0]).toMatchObject({ alive: true, shards: 3, detail: { "worker threads": 4, "HTTP connections": 3 } });
    expect(v.shards.map((s) => `${s.collection}/${s.shard}`)).toEqual(["docs/0", "big/0", "big/1"]);
    expect(v.shards[0]).toMatchObject({ points: 10, disk_bytes: 4096, replicas: [{ worker: "127.0.0.1:7700", role: "leader" }] });
    expect(v.moves).toEqual([]);
  });

  it("reads a gateway's map and tolerates missing parts", () => {
    const v = fromGateway({ pd: [{ id: "pd1", address: "a:1", leader: true, healthy: true }], workers: "junk" });
    expect(v.mode).toBe("cluster");
    expect(v.pd.length).toBe(1);
    expect(v.workers).toEqual([]);
    expect(v.shards).toEqual([]);
  });
});

describe("snippets", () => {
  const body = { vector: [0.5, -1], k: 3, where: { name: "it's", ok: true, none: null } };

  it("quote for the shell and for Python", () => {
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(pyLiteral(body)).toBe('{"vector": [0.5, -1], "k": 3, "where": {"name": "it\'s", "ok": True, "none": None}}');
  });

  it("read the token and CA from the environment, never inline", () => {
    const c = curlSnippet("https://127.0.0.1:7700", "/v1/collections/docs/search", body, true);
    expect(c).toContain('-H "Authorization: Bearer $VECTRON_TOKEN"');
    expect(c).toContain('--cacert "$VECTRON_CA"');
    expect(c).toContain(`-d '{"vector":[0.5,-1],"k":3,"where":{"name":"it'\\''s","ok":true,"none":null}}'`);
    const p = pythonSnippet("https://127.0.0.1:7700", "/v1/collections/docs/search", body, true);
    expect(p).toContain('os.environ["VECTRON_TOKEN"]');
    expect(p).toContain("cafile=os.environ.get(\"VECTRON_CA\")");
    const plain = curlSnippet("http://127.0.0.1:7700", "/x", {}, false);
    expect(plain).not.toContain("cacert");
    expect(plain).not.toContain("Authorization");
  });
});
