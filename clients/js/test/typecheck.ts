// Compiled (not run) by `npm run typecheck`: the published declarations accept the
// documented calls and reject wrong ones (each @ts-expect-error must find an error).
import {
  type ApiKey,
  type CollectionSummary,
  type Hit,
  NotFoundError,
  type ScrollPage,
  type StoredPoint,
  VectronClient,
  VectronError,
} from "@vectron/client";

export async function documentedCalls(): Promise<void> {
  const client = new VectronClient({ url: "https://127.0.0.1:7700", token: "t", ca: "PEM", timeoutMs: 1000, retries: 2 });
  await client.createCollection({ name: "docs", dim: 3, metric: "l2", hnsw: { m: 16, efSearch: 64 } });
  const list: CollectionSummary[] = await client.listCollections();
  const col = client.collection("docs");
  await col.upsert([{ id: "a", vector: [1, 2, 3], metadata: { genre: "jazz" } }, { id: 2, vector: new Float32Array(3) }]);
  const { hits }: { hits: Hit[] } = await col.search({ vector: [1, 2, 3], k: 5, where: { genre: "jazz" }, include: ["metadata"] });
  const score: number = hits[0]!.score;
  const batch = await col.searchBatch({ vectors: [[1, 2, 3]], k: 1 });
  const firstBatchHit: Hit | undefined = batch.results[0]?.hits[0];
  const got = await col.get(["a"], { include: ["vector"] });
  const missing: string[] = got.notFound;
  const n: number = await col.count({ year: { $gte: 1960 } });
  const page: ScrollPage = await col.scroll({ limit: 10, cursor: null });
  for await (const p of col.scrollAll({ where: { genre: "jazz" } })) {
    const sp: StoredPoint = p;
  }
  await col.delete(["a"]);
  await col.deleteWhere({ genre: "rock" });
  await col.createPayloadIndex("genre", "keyword");
  await col.count(undefined, { timeoutMs: 50, signal: new AbortController().signal });
  await client.login("admin", "pw");
  const key = await client.createKey({ name: "app", scopes: ["read", "write"], collections: ["docs"] });
  const keys: ApiKey[] = await client.listKeys();
  await client.revokeKey(key.keyId);
  try {
    await client.getCollection("nope");
  } catch (e) {
    if (e instanceof NotFoundError) {
      const c: string = e.code;
      const s: number = e.httpStatus;
    }
    if (e instanceof VectronError) {
      const r: number | undefined = e.retryAfterMs;
    }
  }
  void [list, score, firstBatchHit, missing, n, page, keys];
}

export async function wrongCalls(client: VectronClient): Promise<void> {
  // @ts-expect-error url is required
  new VectronClient({ token: "t" });
  // @ts-expect-error unknown metric
  await client.createCollection({ name: "x", dim: 3, metric: "manhattan" });
  // @ts-expect-error dim is required
  await client.createCollection({ name: "x" });
  // @ts-expect-error vectors are numbers
  await client.collection("x").upsert([{ id: "a", vector: ["1"] }]);
  // @ts-expect-error include holds "metadata" and "vector" only
  await client.collection("x").search({ vector: [1], include: ["payload"] });
  // @ts-expect-error scopes are read, write, admin
  await client.createKey({ name: "k", scopes: ["root"] });
  // @ts-expect-error payload index types are keyword, integer, float, bool
  await client.collection("x").createPayloadIndex("f", "text");
}
