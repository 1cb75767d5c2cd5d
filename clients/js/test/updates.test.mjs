// Partial updates, list (where/limit/offset), search offset / scoreThreshold, collection
// metadata and rename, against a real `vectron serve` over loopback.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { AlreadyExistsError, NotFoundError, VectronClient } from "@vectron/client";

import { ADMIN_PASSWORD, startServer } from "./server.mjs";

let srv;
let client;

before(async () => {
  srv = await startServer();
  const admin = new VectronClient({ url: srv.url, ca: srv.ca });
  await admin.login("admin", ADMIN_PASSWORD);
  const key = await admin.createKey({ name: "js-updates", scopes: ["read", "write", "admin"] });
  admin.close();
  client = new VectronClient({ url: srv.url, ca: srv.ca, token: key.token });
});

after(async () => {
  client?.close();
  if (srv) assert.equal(await srv.stop(), 0, srv.log());
});

test("partial updates keep the other half; list pages; search offset and threshold", async () => {
  await client.createCollection({ name: "upd", dim: 2, metric: "l2", metadata: { owner: "js" }, quantization: "none" });
  const col = client.collection("upd");
  await col.upsert([
    { id: "a", vector: [0, 0], metadata: { k: "a", n: 1 } },
    { id: "b", vector: [1, 0], metadata: { k: "b" } },
    { id: "c", vector: [2, 0], metadata: { k: "c" } },
  ]);
  assert.deepEqual(await col.updateMetadata([{ id: "a", metadata: { n: null, x: true } }]), { updated: 1 });
  let got = await col.get(["a"]);
  assert.deepEqual(got.points[0], { id: "a", vector: [0, 0], metadata: { k: "a", x: true } });
  await col.updateMetadata([{ id: "b", metadata: { only: 1 } }], { merge: false });
  assert.deepEqual((await col.get(["b"])).points[0].metadata, { only: 1 });
  await col.updateVectors([{ id: "c", vector: new Float32Array([9, 9]) }]);
  got = await col.get(["c"]);
  assert.deepEqual(got.points[0], { id: "c", vector: [9, 9], metadata: { k: "c" } });
  const e = await col.updateVectors([{ id: "ghost", vector: [1, 1] }]).then(
    () => assert.fail("expected NotFoundError"),
    (err) => err,
  );
  assert.ok(e instanceof NotFoundError && /ghost/.test(e.message), String(e));

  assert.deepEqual((await col.list({ limit: 2, offset: 1 })).map((p) => p.id), ["b", "c"]);
  assert.deepEqual((await col.list({ where: { k: "c" } })).map((p) => p.id), ["c"]);
  const near = await col.search({ vector: [0, 0], k: 3, exact: true, scoreThreshold: 1.5 });
  assert.deepEqual(near.hits.map((h) => h.id), ["a", "b"]);
  const page = await col.search({ vector: [0, 0], k: 1, offset: 1, exact: true });
  assert.deepEqual(page.hits.map((h) => h.id), ["b"]);
});

test("collection metadata and rename", async () => {
  await client.createCollection({ name: "ren", dim: 2, metadata: { v: 1 } });
  assert.deepEqual((await client.getCollection("ren")).metadata, { v: 1 });
  await client.setCollectionMetadata("ren", { v: 2 });
  await client.renameCollection("ren", "ren2");
  const info = await client.getCollection("ren2");
  assert.deepEqual(info.metadata, { v: 2 });
  await assert.rejects(client.getCollection("ren"), NotFoundError);
  await client.createCollection({ name: "ren", dim: 2 });
  await assert.rejects(client.renameCollection("ren2", "ren"), AlreadyExistsError);
  await client.setCollectionMetadata("ren", null);
  assert.equal((await client.getCollection("ren")).metadata, null);
});
