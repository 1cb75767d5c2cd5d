// Request and response types. Field names are camelCase; the client converts them to and
// from the server's snake_case JSON (docs/server.md, docs/auth.md, GET /v1/openapi.json).
// Metadata and filters pass through unchanged.

/** Distance function of a collection. Scores are distances: lower is nearer. */
export type Metric = "cosine" | "l2" | "ip";
/** What a search, get or scroll returns besides ids (and scores). */
export type Include = "metadata" | "vector";
/** A point's metadata: any JSON object (at most 1 MiB). */
export type Metadata = { [field: string]: unknown };
/** A `where` filter (docs/filter.md), e.g. `{genre: "jazz", year: {$gte: 1960}}`. */
export type Filter = { [fieldOrOperator: string]: unknown };
/** What an API key may do. Scopes do not imply each other, except that rating points
 * takes "feedback" or "write" (a feedback key can rate and nothing else). */
export type Scope = "read" | "write" | "admin" | "feedback";
/** Type of a payload index on a metadata field. */
export type PayloadIndexType = "keyword" | "integer" | "float" | "bool";
/** A vector: plain numbers or a Float32Array. */
export type Vector = number[] | Float32Array;
/** A point id: a string (1 to 256 bytes of UTF-8); an integer is stored as its decimal text. */
export type PointId = string | number;

export interface HnswParams {
  /** Graph degree (16). */
  m?: number;
  /** Beam width while building (200). */
  efConstruction?: number;
  /** Default beam width of searches (64); a search's `ef` overrides it. */
  efSearch?: number;
  /** Seed of the graph's level generator (100). Integers above 2^53 lose precision in JavaScript. */
  seed?: number;
}

export interface CreateCollectionRequest {
  /** 1 to 64 of [A-Za-z0-9_-]. */
  name: string;
  /** Vector dimension. */
  dim: number;
  /** Default `cosine`. */
  metric?: Metric;
  hnsw?: HnswParams;
  /** Points are hashed by id to this many shards (1). */
  shards?: number;
  /** Each shard searches exactly up to this many points, then builds a graph (10000). */
  flatMaxPoints?: number;
  /** Save the graph after this many changes. */
  checkpointEveryOps?: number;
  /** `none` (default) or `sq8` (8-bit codes searched first, re-ranked with float32). */
  quantization?: "none" | "sq8";
  /** A JSON object stored with the collection (at most 64 KiB). */
  metadata?: Metadata;
}

/** A collection's stored configuration. */
export interface CollectionConfig {
  version: number;
  dim: number;
  metric: Metric;
  hnsw: Required<HnswParams>;
  shards: number;
  flatMaxPoints: number;
  checkpointEveryOps: number;
}

export interface CollectionStats {
  count: number;
  indexMemoryBytes: number;
  diskBytes: number;
  deletedSlots: number;
  /** e.g. `flat` or `hnsw`. */
  indexKind: string;
}

/** From `createCollection` (no stats) and `getCollection` (with stats). */
export interface CollectionInfo {
  name: string;
  config: CollectionConfig;
  stats?: CollectionStats;
  /** The JSON object stored with the collection; null for none. */
  metadata?: Metadata | null;
}

/** One entry of `listCollections`. */
export interface CollectionSummary {
  name: string;
  dim: number;
  metric: Metric;
  shards: number;
  count: number;
  /** "flat", "hnsw" or "mixed" (shards of both kinds). */
  indexKind: string;
  indexMemoryBytes: number;
  diskBytes: number;
}

/** A point to upsert. */
export interface Point {
  id: PointId;
  vector: Vector;
  metadata?: Metadata | null;
}

/** A point as read back (`get`, `scroll`): fields as requested with `include`. */
export interface StoredPoint {
  id: string;
  vector?: number[];
  /** null when the point has none. */
  metadata?: Metadata | null;
}

interface SearchOptions {
  /** Neighbours per query (10, at most 10000). */
  k?: number;
  /** Beam width; 0 or absent = the collection's `efSearch`. */
  ef?: number;
  /** Brute force instead of the graph. */
  exact?: boolean;
  where?: Filter;
  /** Default: neither metadata nor vectors. */
  include?: Include[];
  /** Hits skipped first (paging). */
  offset?: number;
  /** Hits whose score (a distance) is above this are dropped. */
  scoreThreshold?: number;
}

/** `list`: a page of points in id order matching `where`, after skipping `offset`. */
export interface ListRequest {
  where?: Filter;
  /** 100 by default, at most 10000. */
  limit?: number;
  offset?: number;
  /** Default: metadata only. */
  include?: Include[];
}

export interface SearchRequest extends SearchOptions {
  vector: Vector;
}

export interface SearchBatchRequest extends SearchOptions {
  /** At most 4096 queries of the collection's dimension. */
  vectors: Vector[];
}

export interface Hit {
  id: string;
  /** A distance: lower is nearer (docs/server.md). */
  score: number;
  metadata?: Metadata | null;
  vector?: number[];
}

export interface SearchResult {
  hits: Hit[];
}

export interface SearchBatchResult {
  /** One result per query, in order. */
  results: SearchResult[];
}

export interface GetOptions {
  /** Default: both metadata and vectors. */
  include?: Include[];
}

export interface GetResult {
  /** The points found, in the order asked. */
  points: StoredPoint[];
  /** The ids that do not exist. */
  notFound: string[];
}

export interface ScrollRequest {
  /** Points per page (100, at most 10000). */
  limit?: number;
  /** `nextCursor` of the previous page; absent or null for the first. */
  cursor?: string | null;
  where?: Filter;
  /** Default: metadata only. */
  include?: Include[];
}

export interface ScrollPage {
  /** Points in id order. */
  points: StoredPoint[];
  /** Pass back for the next page; null after the last. */
  nextCursor: string | null;
}

export interface PayloadIndex {
  field: string;
  type: PayloadIndexType;
}

/** A login token (for key management), from `login` and `refresh`. */
export interface LoginToken {
  token: string;
  tokenType: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface WhoAmI {
  user: string;
  role: "admin" | "user";
  /** Unix seconds of the password check. */
  authTime: number;
}

export interface CreateKeyRequest {
  name: string;
  scopes: Scope[];
  /** Allow-list of collections; absent = all. */
  collections?: string[];
  /** Seconds until the key expires; absent = never. */
  expiresIn?: number;
}

/** A new API key: `token` is its SDK token, shown only this once. */
export interface CreatedKey {
  keyId: string;
  token: string;
  name: string;
  scopes: Scope[];
  /** Unix seconds, or null for no expiry. */
  expiresAt: number | null;
}

/** An API key as listed (never with its token). */
export interface ApiKey {
  keyId: string;
  name: string;
  owner: string;
  scopes: Scope[];
  collections: string[] | null;
  createdAt: number;
  expiresAt: number | null;
  revoked: boolean;
  revokedAt?: number;
}
