// Conversions between the package's camelCase types and the server's JSON.
import type {
  ApiKey,
  CollectionConfig,
  CollectionInfo,
  CollectionStats,
  CollectionSummary,
  CreatedKey,
  Include,
  LoginToken,
  Point,
  Vector,
  WhoAmI,
} from "./types.js";

export type Json = { [k: string]: any };

/** A vector as JSON numbers (a Float32Array would serialise as an object). */
export function vec(v: Vector): number[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Float32Array) return Array.from(v);
  throw new TypeError(`a vector must be an array of numbers or a Float32Array, got ${v === null ? "null" : typeof v}`);
}

export function pointOut(p: Point): Json {
  const o: Json = { id: p.id, vector: vec(p.vector) };
  if (p.metadata !== undefined && p.metadata !== null) o.metadata = p.metadata;
  return o;
}

/** Copies the optional search fields that are set. */
export function searchFields(r: {
  k?: number;
  ef?: number;
  exact?: boolean;
  where?: object;
  include?: Include[];
  offset?: number;
  scoreThreshold?: number;
}): Json {
  const o: Json = {};
  if (r.k !== undefined) o.k = r.k;
  if (r.ef !== undefined) o.ef = r.ef;
  if (r.exact !== undefined) o.exact = r.exact;
  if (r.where !== undefined) o.where = r.where;
  if (r.include !== undefined) o.include = r.include;
  if (r.offset !== undefined) o.offset = r.offset;
  if (r.scoreThreshold !== undefined) o.score_threshold = r.scoreThreshold;
  return o;
}

export function configIn(c: Json): CollectionConfig {
  const h = c.hnsw ?? {};
  return {
    version: c.version,
    dim: c.dim,
    metric: c.metric,
    hnsw: { m: h.m, efConstruction: h.ef_construction, efSearch: h.ef_search, seed: h.seed },
    shards: c.shards,
    flatMaxPoints: c.flat_max_points,
    checkpointEveryOps: c.checkpoint_every_ops,
  };
}

function statsIn(s: Json): CollectionStats {
  return {
    count: s.count,
    indexMemoryBytes: s.index_memory_bytes,
    diskBytes: s.disk_bytes,
    deletedSlots: s.deleted_slots,
    indexKind: s.index_kind,
  };
}

export function summaryIn(j: Json): CollectionSummary {
  return {
    name: j.name,
    dim: j.dim,
    metric: j.metric,
    shards: j.shards,
    count: j.count,
    indexKind: j.index_kind,
    indexMemoryBytes: j.index_memory_bytes,
    diskBytes: j.disk_bytes,
  };
}

export function collectionIn(j: Json): CollectionInfo {
  const out: CollectionInfo = { name: j.name, config: configIn(j.config ?? {}) };
  if (j.stats) out.stats = statsIn(j.stats);
  if (j.metadata !== undefined) out.metadata = j.metadata;
  return out;
}

export function loginIn(j: Json): LoginToken {
  return { token: j.token, tokenType: j.token_type, expiresAt: j.expires_at };
}

export function whoAmIIn(j: Json): WhoAmI {
  return { user: j.user, role: j.role, authTime: j.auth_time };
}

export function createdKeyIn(j: Json): CreatedKey {
  return { keyId: j.key_id, token: j.token, name: j.name, scopes: j.scopes, expiresAt: j.expires_at ?? null };
}

export function apiKeyIn(j: Json): ApiKey {
  const k: ApiKey = {
    keyId: j.key_id,
    name: j.name,
    owner: j.owner,
    scopes: j.scopes,
    collections: j.collections ?? null,
    createdAt: j.created_at,
    expiresAt: j.expires_at ?? null,
    revoked: j.revoked,
  };
  if (j.revoked_at !== undefined) k.revokedAt = j.revoked_at;
  return k;
}
