// The REST API of `vectron serve` as the console uses it (docs/server.md, docs/auth.md).
// Account, key, user and audit routes take the login token; the collection list and
// /metrics take it too (the console's views); the data API takes the session key's
// SDK token.

import { ApiError, request } from "./http";
import type { SessionManager } from "./session";

export type Metric = "cosine" | "l2" | "ip";
// "feedback": rate points only (POST .../feedback), for end-user apps; "write" covers it too.
export type Scope = "read" | "write" | "admin" | "feedback";
export type PayloadType = "keyword" | "integer" | "float" | "bool";

export interface CollectionSummary {
  name: string;
  dim: number;
  metric: Metric;
  shards: number;
  count: number;
  index_kind?: string;
  index_memory_bytes?: number;
  disk_bytes?: number;
}

export interface CollectionStats {
  count: number;
  index_memory_bytes: number;
  disk_bytes: number;
  deleted_slots: number;
  index_kind: string;
}

export interface CollectionInfo {
  name: string;
  config: Record<string, unknown> & { dim: number; metric: Metric; shards?: number };
  stats: CollectionStats;
}

export interface CreateCollection {
  name: string;
  dim: number;
  metric: Metric;
  hnsw?: { m?: number; ef_construction?: number; ef_search?: number };
  shards?: number;
}

export interface Point {
  id: string;
  vector?: number[];
  metadata?: Record<string, unknown> | null;
}

export interface Hit {
  id: string;
  score: number;
  metadata?: Record<string, unknown> | null;
  vector?: number[];
}

export interface SearchBody {
  vector: number[];
  k: number;
  ef?: number;
  exact?: boolean;
  where?: Record<string, unknown>;
  include?: ("metadata" | "vector")[];
}

export interface ApiKey {
  key_id: string;
  name: string;
  owner: string;
  scopes: Scope[];
  collections: string[] | null;
  created_at: number;
  expires_at: number | null;
  revoked: boolean;
}

export interface CreatedKey {
  key_id: string;
  token: string;
  name: string;
  scopes: Scope[];
  expires_at: number | null;
}

export interface User {
  name: string;
  role: "admin" | "user";
  created_at: number;
}

export interface AuditEvent {
  seq: number;
  ts: number;
  event: string;
  user: string;
  peer: string;
  detail: Record<string, unknown>;
}

const enc = encodeURIComponent;
const col = (name: string) => `/v1/collections/${enc(name)}`;

export class Api {
  constructor(readonly session: SessionManager) {}

  private login<T>(method: string, path: string, body?: unknown): Promise<T> {
    return request<T>(method, path, { body, token: this.session.loginToken() });
  }

  // A data API call with the session key; once more with a new key if the server
  // refused this one (it was revoked or expired).
  private async data<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const token = await this.session.dataToken();
    try {
      return await request<T>(method, path, { body, token, signal });
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401 || !token) throw e;
      this.session.dropDataKey(token);
      return request<T>(method, path, { body, token: await this.session.dataToken(), signal });
    }
  }

  // Collections: the list and one collection's info are console views (login token).
  async listCollections(): Promise<CollectionSummary[]> {
    return (await this.login<{ collections: CollectionSummary[] }>("GET", "/v1/collections")).collections;
  }
  getCollection(name: string): Promise<CollectionInfo> {
    return this.login("GET", col(name));
  }
  createCollection(c: CreateCollection): Promise<unknown> {
    return this.data("POST", "/v1/collections", c);
  }
  dropCollection(name: string): Promise<unknown> {
    return this.data("DELETE", col(name));
  }

  async listIndexes(name: string): Promise<{ field: string; type: PayloadType }[]> {
    return (await this.data<{ indexes: { field: string; type: PayloadType }[] }>("GET", `${col(name)}/indexes`)).indexes;
  }
  createIndex(name: string, field: string, type: PayloadType): Promise<unknown> {
    return this.data("POST", `${col(name)}/indexes`, { field, type });
  }
  dropIndex(name: string, field: string): Promise<unknown> {
    return this.data("DELETE", `${col(name)}/indexes/${enc(field)}`);
  }

  async count(name: string, where?: Record<string, unknown>, signal?: AbortSignal): Promise<number> {
    return (await this.data<{ count: number }>("POST", `${col(name)}/count`, where ? { where } : {}, signal)).count;
  }
  scroll(
    name: string,
    page: { limit: number; cursor?: string | null; where?: Record<string, unknown> },
  ): Promise<{ points: Point[]; next_cursor: string | null }> {
    const body: Record<string, unknown> = { limit: page.limit, include: ["metadata"] };
    if (page.cursor) body.cursor = page.cursor;
    if (page.where) body.where = page.where;
    return this.data("POST", `${col(name)}/scroll`, body);
  }
  getPoints(name: string, ids: string[]): Promise<{ points: Point[]; not_found: string[] }> {
    return this.data("POST", `${col(name)}/points/get`, { ids, include: ["metadata", "vector"] });
  }
  async search(name: string, body: SearchBody): Promise<Hit[]> {
    return (await this.data<{ hits: Hit[] }>("POST", `${col(name)}/search`, body)).hits;
  }

  // Keys, users, audit: login token.
  async listKeys(): Promise<ApiKey[]> {
    return (await this.login<{ keys: ApiKey[] }>("GET", "/v1/keys")).keys;
  }
  createKey(k: { name: string; scopes: Scope[]; collections?: string[]; expires_in?: number }): Promise<CreatedKey> {
    return this.login("POST", "/v1/keys", k);
  }
  revokeKey(keyId: string): Promise<unknown> {
    return this.login("DELETE", `/v1/keys/${enc(keyId)}`);
  }
  async listUsers(): Promise<User[]> {
    return (await this.login<{ users: User[] }>("GET", "/v1/users")).users;
  }
  createUser(u: { username: string; password: string; role: "admin" | "user" }): Promise<unknown> {
    return this.login("POST", "/v1/users", u);
  }
  deleteUser(name: string): Promise<unknown> {
    return this.login("DELETE", `/v1/users/${enc(name)}`);
  }
  async audit(limit: number): Promise<AuditEvent[]> {
    return (await this.login<{ events: AuditEvent[] }>("GET", `/v1/audit?limit=${limit}`)).events;
  }

  // Operations.
  metricsText(signal?: AbortSignal): Promise<string> {
    return request<string>("GET", "/metrics", { token: this.session.loginToken(), text: true, signal });
  }
  readyz(): Promise<{ status: string }> {
    return request("GET", "/readyz");
  }
  // The cluster map of a gateway; null where the route does not exist (vectron serve).
  async cluster(): Promise<unknown | null> {
    try {
      return await this.login("GET", "/v1/cluster");
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  }
}
