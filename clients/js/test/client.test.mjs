// Every route of the client against a real `vectron serve` (TLS with its generated
// certificate as the custom CA, auth on), over loopback.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  VectronClient,
  VectronError,
} from "@vectron/client";

import { ADMIN_PASSWORD, startServer } from "./server.mjs";

let srv;
let admin; // logged in as admin: key management
let client; // SDK token with read, write, admin

before(async () => {
  srv = await startServer();
  admin = new VectronClient({ url: srv.url, ca: srv.ca });
  await admin.login("admin", ADMIN_PASSWORD);
  const key = await admin.createKey({ name: "js-tests", scopes: ["read", "write", "admin"] });
  client = new VectronClient({ url: srv.url, ca: srv.ca, token: key.token });
});

after(async () => {
  admin?.close();
  client?.close();
  if (srv) assert.equal(await srv.stop(), 0, srv.log());
});

async function rejects(promise, Class, status, code, fragment) {
  const e = await promise.then(
    () => assert.fail(`expected ${Class.name}`),
    (err) => err,
  );
  assert.ok(e instanceof Class, `expected ${Class.name}, got ${e?.name}: ${e?.message}`);
  assert.ok(e instanceof VectronError);
  assert.equal(e.httpStatus, status, e.message);
  assert.equal(e.code, code);
  if (fragment) assert.match(e.message, fragment);
  return e;
}

test("login, me, refresh and API keys: create, list, use, revoke", async () => {
  const anon = new VectronClient({ url: srv.url, ca: srv.ca });
  await rejects(anon.login("admin", "wrong password"), UnauthenticatedError, 401, "unauthenticated", /wrong user name or password/);
  assert.equal(anon.token, undefined);
  const t = await anon.login("admin", ADMIN_PASSWORD);
  assert.equal(t.tokenType, "Bearer");
  assert.ok(t.expiresAt > Date.now() / 1000);
  assert.equal(anon.token, t.token);
  const me = await anon.me();
  assert.equal(me.user, "admin");
  assert.equal(me.role, "admin");
  assert.ok(me.authTime > 0);
  const t2 = await anon.refresh();
  assert.notEqual(t2.token, t.token);
  assert.equal(anon.token, t2.token);

  const key = await anon.createKey({ name: "reader", scopes: ["read"], collections: ["k1"], expiresIn: 3600 });
  assert.match(key.keyId, /^vk_/);
  assert.equal(key.token.split(".").length, 3);
  assert.deepEqual(key.scopes, ["read"]);
  assert.ok(key.expiresAt > Date.now() / 1000);
  const listed = (await anon.listKeys()).find((k) => k.keyId === key.keyId);
  assert.deepEqual(
    { ...listed, createdAt: 0 },
    { keyId: key.keyId, name: "reader", owner: "admin", scopes: ["read"], collections: ["k1"], createdAt: 0, expiresAt: key.expiresAt, revoked: false },
  );
  // An SDK token cannot manage keys; a login token cannot use the data API.
  const sdk = new VectronClient({ url: srv.url, ca: srv.ca, token: key.token });
  await rejects(sdk.listKeys(), PermissionDeniedError, 403, "permission_denied");
  await rejects(anon.collection("k1").count(), PermissionDeniedError, 403, "permission_denied");
  await client.createCollection({ name: "k1", dim: 2 });
  assert.equal(await sdk.collection("k1").count(), 0);
  // The allow-list: another collection is refused.
  await rejects(sdk.getCollection("other"), PermissionDeniedError, 403, "permission_denied");

  await anon.revokeKey(key.keyId);
  await anon.revokeKey(key.keyId); // Revoking twice is fine (and why revokeKey is retried).
  await rejects(sdk.collection("k1").count(), UnauthenticatedError, 401, "unauthenticated", /revoked/);
  assert.equal((await anon.listKeys()).find((k) => k.keyId === key.keyId).revoked, true);
  await rejects(anon.revokeKey("vk_nosuchkey"), NotFoundError, 404, "not_found");
  await client.dropCollection("k1");
});

test("collections: create, list, get with stats, drop, and their errors", async () => {
  const info = await client.createCollection({
    name: "c1",
    dim: 3,
    metric: "l2",
    hnsw: { m: 8, efConstruction: 50, efSearch: 20, seed: 7 },
    shards: 2,
    flatMaxPoints: 500,
  });
  assert.equal(info.name, "c1");
  assert.deepEqual(info.config.hnsw, { m: 8, efConstruction: 50, efSearch: 20, seed: 7 });
  assert.equal(info.config.dim, 3);
  assert.equal(info.config.metric, "l2");
  assert.equal(info.config.shards, 2);
  assert.equal(info.config.flatMaxPoints, 500);
  assert.ok(info.config.checkpointEveryOps > 0);
  assert.equal(info.stats, undefined);
  await rejects(client.createCollection({ name: "c1", dim: 3 }), AlreadyExistsError, 409, "already_exists", /c1/);
  await rejects(client.createCollection({ name: "bad name!", dim: 3 }), InvalidArgumentError, 400, "invalid_argument");
  await rejects(client.createCollection({ name: "c2", dim: 0 }), InvalidArgumentError, 400, "invalid_argument", /dim/);

  const all = await client.listCollections();
  const listed = all.find((c) => c.name === "c1");
  assert.deepEqual(
    { name: listed.name, dim: listed.dim, metric: listed.metric, shards: listed.shards, count: listed.count, indexKind: listed.indexKind },
    { name: "c1", dim: 3, metric: "l2", shards: 2, count: 0, indexKind: "flat" },
  );
  assert.equal(typeof listed.indexMemoryBytes, "number");
  assert.ok(listed.diskBytes > 0);
  await client.collection("c1").upsert([{ id: "a", vector: [1, 2, 3] }]);
  const got = await client.getCollection("c1");
  assert.equal(got.stats.count, 1);
  assert.equal(typeof got.stats.indexMemoryBytes, "number");
  assert.ok(got.stats.diskBytes > 0);
  assert.equal(got.stats.deletedSlots, 0);
  assert.equal(typeof got.stats.indexKind, "string");
  assert.deepEqual((await client.collection("c1").info()).config, got.config);

  await client.dropCollection("c1");
  await rejects(client.getCollection("c1"), NotFoundError, 404, "not_found", /c1/);
  await rejects(client.dropCollection("c1"), NotFoundError, 404, "not_found");
  await rejects(client.collection("c1").count(), NotFoundError, 404, "not_found");
});

test("points: upsert, get, count, delete by ids and by filter; a bad batch writes nothing", async () => {
  await client.createCollection({ name: "p", dim: 3, metric: "l2" });
  const col = client.collection("p");
  const r = await col.upsert([
    { id: "a", vector: new Float32Array([1, 0, 0]), metadata: { color: "red", n: 1 } },
    { id: 7, vector: [0, 1, 0], metadata: { color: "blue", n: 2 } },
    { id: "c", vector: [0, 0, 1] },
  ]);
  assert.deepEqual(r, { upserted: 3 });
  const got = await col.get(["a", 7, "zz"]);
  assert.deepEqual(got, {
    points: [
      { id: "a", vector: [1, 0, 0], metadata: { color: "red", n: 1 } },
      { id: "7", vector: [0, 1, 0], metadata: { color: "blue", n: 2 } },
    ],
    notFound: ["zz"],
  });
  assert.deepEqual((await col.get(["c"], { include: ["metadata"] })).points, [{ id: "c", metadata: null }]);
  assert.deepEqual((await col.get(["c"], { include: [] })).points, [{ id: "c" }]);
  assert.equal(await col.count(), 3);
  assert.equal(await col.count({ color: "red" }), 1);
  assert.equal(await col.count({ n: { $gte: 1 } }), 2);

  // One bad vector: InvalidArgumentError naming it, and nothing of the batch is written.
  await rejects(
    col.upsert([{ id: "d", vector: [1, 1, 1] }, { id: "e", vector: [1, 1] }]),
    InvalidArgumentError,
    400,
    "invalid_argument",
    /dimension/,
  );
  assert.equal(await col.count(), 3);
  await rejects(col.count({ n: { $gt: [1] } }), InvalidArgumentError, 400, "invalid_argument", /\$gt/);

  assert.deepEqual(await col.delete(["a", "nope"]), { deleted: 1 });
  assert.deepEqual(await col.deleteWhere({ color: "blue" }), { deleted: 1 });
  assert.equal(await col.count(), 1);
  await rejects(col.deleteWhere({ color: { $bad: 1 } }), InvalidArgumentError, 400, "invalid_argument");
  assert.equal(await col.count(), 1);
  await client.dropCollection("p");
});

test("search: k, where, include, ef, exact, and batch search", async () => {
  await client.createCollection({ name: "s", dim: 2, metric: "l2" });
  const col = client.collection("s");
  const points = [];
  for (let i = 0; i < 20; i++) points.push({ id: `p${i}`, vector: [i, 0], metadata: { even: i % 2 === 0, i } });
  await col.upsert(points);

  const { hits } = await col.search({ vector: [3.2, 0], k: 3 });
  assert.deepEqual(hits.map((h) => h.id), ["p3", "p4", "p2"]);
  assert.ok(Math.abs(hits[0].score - 0.04) < 1e-5, `score ${hits[0].score}`); // squared L2
  assert.equal(hits[0].metadata, undefined);
  assert.equal(hits[0].vector, undefined);

  const withAll = await col.search({ vector: [3.2, 0], k: 1, include: ["metadata", "vector"], ef: 64 });
  assert.deepEqual(withAll.hits[0].metadata, { even: false, i: 3 });
  assert.deepEqual(withAll.hits[0].vector, [3, 0]);

  const even = await col.search({ vector: new Float32Array([3.2, 0]), k: 2, where: { even: true }, exact: true });
  assert.deepEqual(even.hits.map((h) => h.id), ["p4", "p2"]);
  const none = await col.search({ vector: [0, 0], k: 5, where: { i: { $gt: 100 } } });
  assert.deepEqual(none.hits, []);

  const batch = await col.searchBatch({ vectors: [[0, 0], new Float32Array([19, 0])], k: 2, include: ["metadata"] });
  assert.equal(batch.results.length, 2);
  assert.deepEqual(batch.results[0].hits.map((h) => h.id), ["p0", "p1"]);
  assert.deepEqual(batch.results[1].hits.map((h) => h.id), ["p19", "p18"]);
  assert.deepEqual(batch.results[1].hits[0].metadata, { even: false, i: 19 });
  const filtered = await col.searchBatch({ vectors: [[0, 0]], k: 1, where: { even: false } });
  assert.deepEqual(filtered.results[0].hits.map((h) => h.id), ["p1"]);

  await rejects(col.search({ vector: [1, 2, 3], k: 1 }), InvalidArgumentError, 400, "invalid_argument", /dimension/);
  await rejects(col.search({ vector: [1, 2], k: 0 }), InvalidArgumentError, 400, "invalid_argument", /"k"/);
  await rejects(col.searchBatch({ vectors: [[1, 2], [1]], k: 1 }), InvalidArgumentError, 400, "invalid_argument");
  await client.dropCollection("s");
});

test("scroll: pages with a cursor, a filter, and the async iterators over every page", async () => {
  await client.createCollection({ name: "sc", dim: 2 });
  const col = client.collection("sc");
  const points = [];
  for (let i = 0; i < 25; i++) points.push({ id: `id${String(i).padStart(2, "0")}`, vector: [1, i + 1], metadata: { i } });
  await col.upsert(points);

  const first = await col.scroll({ limit: 10 });
  assert.equal(first.points.length, 10);
  assert.equal(first.points[0].id, "id00");
  assert.deepEqual(first.points[0].metadata, { i: 0 });
  assert.equal(first.points[0].vector, undefined);
  assert.equal(typeof first.nextCursor, "string");
  const second = await col.scroll({ limit: 10, cursor: first.nextCursor, include: ["vector"] });
  assert.equal(second.points[0].id, "id10");
  assert.deepEqual(second.points[0], { id: "id10", vector: [1, 11] });

  const pages = [];
  for await (const page of col.scrollPages({ limit: 10 })) pages.push(page.points.length);
  assert.deepEqual(pages, [10, 10, 5]);
  const ids = [];
  for await (const p of col.scrollAll({ limit: 7 })) ids.push(p.id);
  assert.deepEqual(ids, points.map((p) => p.id));
  const odd = [];
  for await (const p of col.scrollAll({ limit: 3, where: { i: { $in: [1, 3, 5, 7, 9] } } })) odd.push(p.metadata.i);
  assert.deepEqual(odd, [1, 3, 5, 7, 9]);
  const last = await col.scroll({ limit: 100 });
  assert.equal(last.nextCursor, null);
  await rejects(col.scroll({ limit: 0 }), InvalidArgumentError, 400, "invalid_argument", /limit/);
  await client.dropCollection("sc");
});

test("payload indexes: create, list, use in filters, drop, and their errors", async () => {
  await client.createCollection({ name: "ix", dim: 2 });
  const col = client.collection("ix");
  await col.upsert([
    { id: "a", vector: [1, 0], metadata: { genre: "jazz", year: 1959 } },
    { id: "b", vector: [0, 1], metadata: { genre: "rock", year: 1971 } },
  ]);
  assert.deepEqual(await col.createPayloadIndex("genre", "keyword"), { field: "genre", type: "keyword" });
  assert.deepEqual(await col.createPayloadIndex("year", "integer"), { field: "year", type: "integer" });
  await rejects(col.createPayloadIndex("genre", "keyword"), AlreadyExistsError, 409, "already_exists");
  await rejects(col.createPayloadIndex("x", "colour"), InvalidArgumentError, 400, "invalid_argument");
  const listed = await col.listPayloadIndexes();
  assert.deepEqual(
    listed.sort((x, y) => x.field.localeCompare(y.field)),
    [
      { field: "genre", type: "keyword" },
      { field: "year", type: "integer" },
    ],
  );
  assert.equal(await col.count({ genre: "jazz", year: { $lt: 1960 } }), 1);
  await col.dropPayloadIndex("genre");
  assert.deepEqual(await col.listPayloadIndexes(), [{ field: "year", type: "integer" }]);
  await rejects(col.dropPayloadIndex("genre"), NotFoundError, 404, "not_found");
  await client.dropCollection("ix");
});

test("scopes: a read-only key searches but gets PermissionDeniedError on writes", async () => {
  await client.createCollection({ name: "ro", dim: 2 });
  await client.collection("ro").upsert([{ id: "a", vector: [1, 1] }]);
  const key = await admin.createKey({ name: "ro", scopes: ["read"] });
  const reader = new VectronClient({ url: srv.url, ca: srv.ca, token: key.token });
  const col = reader.collection("ro");
  assert.deepEqual((await col.search({ vector: [1, 1], k: 1 })).hits.map((h) => h.id), ["a"]);
  const e = await rejects(col.upsert([{ id: "b", vector: [1, 2] }]), PermissionDeniedError, 403, "permission_denied");
  assert.match(e.message, /write/);
  await rejects(reader.dropCollection("ro"), PermissionDeniedError, 403, "permission_denied");
  await rejects(
    new VectronClient({ url: srv.url, ca: srv.ca, token: "not.a.token" }).listCollections(),
    UnauthenticatedError,
    401,
    "unauthenticated",
  );
  await rejects(new VectronClient({ url: srv.url, ca: srv.ca }).listCollections(), UnauthenticatedError, 401, "unauthenticated");
  await client.dropCollection("ro");
});

test("health answers without a token; names are escaped in paths", async () => {
  const anon = new VectronClient({ url: srv.url + "/", ca: srv.ca });
  assert.deepEqual(await anon.health(), { status: "ok" });
  // Names are escaped into the path: the server sees (and refuses) the name as given.
  await rejects(client.getCollection("a b"), InvalidArgumentError, 400, "invalid_argument", /"a b"/);
  await rejects(client.getCollection("a/b"), NotFoundError, 404, "not_found");
  assert.throws(() => client.collection(""), TypeError);
  await assert.rejects(client.collection("x").search({ k: 1 }), /a vector must be an array of numbers or a Float32Array, got undefined/);
  // A signal aborted before the call: rejected with its reason, nothing sent.
  await assert.rejects(client.listCollections({ signal: AbortSignal.abort(new Error("gave up early")) }), /gave up early/);
  assert.throws(() => new VectronClient({ url: "127.0.0.1:7700" }), /http:\/\/ or https:\/\//);
  assert.throws(() => new VectronClient({ url: srv.url, retries: -1 }), /retries/);
});
