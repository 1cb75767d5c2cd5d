// The five-minute walkthrough of docs/clients.md with the JavaScript client, against a
// running `vectron serve` (TLS and auth on):
//
//   VECTRON_ADMIN_PASSWORD='correct horse battery staple' vectron serve --db ./vectron-data &
//   cd examples/js && npm install && VECTRON_PASSWORD='correct horse battery staple' node quickstart.mjs
//
// Environment: VECTRON_URL (https://127.0.0.1:7700), VECTRON_CA (the server's certificate,
// ../../vectron-data/tls/cert.pem; empty = the system trust store), and either
// VECTRON_TOKEN (an SDK token with the read, write and admin scopes) or VECTRON_PASSWORD
// (the admin's password: the example then logs in and makes an API key, revoked at the end).
import { readFileSync } from "node:fs";

import { InvalidArgumentError, NotFoundError, VectronClient } from "@vectron/client";

const url = process.env.VECTRON_URL ?? "https://127.0.0.1:7700";
const caPath = process.env.VECTRON_CA ?? "../../vectron-data/tls/cert.pem";
const ca = caPath ? readFileSync(caPath, "utf8") : undefined;

// 1. A token. Programs use an SDK token; a login token (user name and password) only manages keys.
let token = process.env.VECTRON_TOKEN;
let admin;
let keyId;
if (!token) {
  admin = new VectronClient({ url, ca });
  await admin.login("admin", process.env.VECTRON_PASSWORD ?? "");
  const key = await admin.createKey({ name: "quickstart", scopes: ["read", "write", "admin"] });
  ({ token, keyId } = key);
  console.log(`created API key ${keyId}`);
}

// 2. Connect. Calls that are safe to repeat are retried on 503, 429 and connection errors.
const client = new VectronClient({ url, token, ca, timeoutMs: 10000, retries: 3 });

// 3. A collection (an earlier run's is dropped: NotFoundError if there is none).
try {
  await client.dropCollection("quickstart");
} catch (e) {
  if (!(e instanceof NotFoundError)) throw e;
}
await client.createCollection({ name: "quickstart", dim: 4, metric: "cosine" });
const docs = client.collection("quickstart");

// 4. Points: id, vector, optional metadata; one atomic, durable batch.
await docs.upsert([
  { id: "mercury", vector: [0.9, 0.1, 0.0, 0.0], metadata: { kind: "planet", moons: 0 } },
  { id: "venus", vector: [0.8, 0.3, 0.1, 0.0], metadata: { kind: "planet", moons: 0 } },
  { id: "earth", vector: [0.6, 0.6, 0.2, 0.1], metadata: { kind: "planet", moons: 1 } },
  { id: "moon", vector: [0.5, 0.7, 0.1, 0.1], metadata: { kind: "moon", of: "earth" } },
  { id: "mars", vector: [0.4, 0.4, 0.7, 0.1], metadata: { kind: "planet", moons: 2 } },
  { id: "phobos", vector: [0.3, 0.4, 0.8, 0.2], metadata: { kind: "moon", of: "mars" } },
]);
console.log(`points: ${await docs.count()}`);

// 5. Search: nearest first; score is a distance (lower is nearer).
const { hits } = await docs.search({ vector: [0.6, 0.62, 0.18, 0.1], k: 3, include: ["metadata"] });
for (const h of hits) console.log(`hit ${h.id} ${h.score.toFixed(4)} ${JSON.stringify(h.metadata)}`);

// 6. Filters (docs/filter.md); a payload index makes them faster.
await docs.createPayloadIndex("kind", "keyword");
const planets = await docs.search({ vector: [0.3, 0.4, 0.8, 0.2], k: 2, where: { kind: "planet", moons: { $gte: 1 } } });
console.log(`planets with moons near phobos: ${planets.hits.map((h) => h.id).join(", ")}`);
console.log(`moons: ${await docs.count({ kind: "moon" })}`);

// 7. Read back: by id, and every point page by page.
const got = await docs.get(["earth", "pluto"], { include: ["metadata"] });
console.log(`get: ${got.points.map((p) => p.id).join(", ")}; not found: ${got.notFound.join(", ")}`);
const ids = [];
for await (const p of docs.scrollAll({ limit: 2 })) ids.push(p.id);
console.log(`scroll: ${ids.join(", ")}`);

// 8. Errors carry the server's code, message and HTTP status.
try {
  await docs.search({ vector: [1, 0], k: 3 });
} catch (e) {
  if (!(e instanceof InvalidArgumentError)) throw e;
  console.log(`error: ${e.httpStatus} ${e.code}: ${e.message}`);
}

// 9. Delete by id and by filter, then clean up.
console.log(`deleted by id: ${(await docs.delete(["venus"])).deleted}`);
console.log(`deleted by filter: ${(await docs.deleteWhere({ kind: "moon" })).deleted}`);
console.log(`left: ${await docs.count()}`);
await client.dropCollection("quickstart");
if (admin && keyId) await admin.revokeKey(keyId);
console.log("done");
