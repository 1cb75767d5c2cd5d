// The client: collections, login and API keys.
import { Collection } from "./collection.js";
import { CallOptions, ClientOptions, Http, seg } from "./http.js";
import type {
  ApiKey,
  CollectionInfo,
  CollectionSummary,
  CreateCollectionRequest,
  CreateKeyRequest,
  CreatedKey,
  LoginToken,
  Metadata,
  WhoAmI,
} from "./types.js";
import type { Json } from "./wire.js";
import { apiKeyIn, collectionIn, createdKeyIn, loginIn, summaryIn, whoAmIIn } from "./wire.js";

/**
 * A client of one `vectron serve`. Every method returns a promise that rejects with a
 * VectronError subclass carrying the server's code, message and HTTP status. Calls that
 * are safe to repeat are retried on 503, 429 and connection errors (docs/clients.md).
 */
export class VectronClient {
  private readonly http: Http;

  /** Throws TypeError for a malformed URL or option. Makes no request. */
  constructor(options: ClientOptions) {
    this.http = new Http(options);
  }

  /** The token sent with each request (an SDK token, or a login token after `login`). */
  get token(): string | undefined {
    return this.http.token;
  }
  set token(token: string | undefined) {
    this.http.token = token;
  }

  /** Closes idle keep-alive connections of the Node transport (`ca`); a no-op with fetch. */
  close(): void {
    this.http.close();
  }

  /** A handle on a collection's points; makes no request. */
  collection(name: string): Collection {
    return new Collection(this.http, name);
  }

  /** `GET /healthz`: resolves when the server answers. Retried. */
  async health(options?: CallOptions): Promise<{ status: string }> {
    return this.http.call({ method: "GET", path: "/healthz", idempotent: true, options });
  }

  /** Creates a collection (token scope `admin`). Not retried. Errors: AlreadyExistsError, InvalidArgumentError. */
  async createCollection(request: CreateCollectionRequest, options?: CallOptions): Promise<CollectionInfo> {
    const body: Record<string, unknown> = { name: request.name, dim: request.dim };
    if (request.metric !== undefined) body.metric = request.metric;
    if (request.hnsw !== undefined) {
      const h: Record<string, number> = {};
      if (request.hnsw.m !== undefined) h.m = request.hnsw.m;
      if (request.hnsw.efConstruction !== undefined) h.ef_construction = request.hnsw.efConstruction;
      if (request.hnsw.efSearch !== undefined) h.ef_search = request.hnsw.efSearch;
      if (request.hnsw.seed !== undefined) h.seed = request.hnsw.seed;
      body.hnsw = h;
    }
    if (request.shards !== undefined) body.shards = request.shards;
    if (request.flatMaxPoints !== undefined) body.flat_max_points = request.flatMaxPoints;
    if (request.checkpointEveryOps !== undefined) body.checkpoint_every_ops = request.checkpointEveryOps;
    if (request.quantization !== undefined) body.quantization = request.quantization;
    if (request.metadata !== undefined) body.metadata = request.metadata;
    return collectionIn(await this.http.call({ method: "POST", path: "/v1/collections", body, idempotent: false, options }));
  }

  /** The collections the token may see, with their sizes. Retried. */
  async listCollections(options?: CallOptions): Promise<CollectionSummary[]> {
    const r = await this.http.call<{ collections: Json[] }>({
      method: "GET",
      path: "/v1/collections",
      idempotent: true,
      options,
    });
    return r.collections.map(summaryIn);
  }

  /** A collection's config and stats. Retried. Errors: NotFoundError. */
  async getCollection(name: string, options?: CallOptions): Promise<CollectionInfo> {
    return collectionIn(await this.http.call({ method: "GET", path: `/v1/collections/${seg(name)}`, idempotent: true, options }));
  }

  /**
   * Replaces the JSON object stored with a collection (null removes it). Token scope
   * `admin`. Retried. Errors: NotFoundError, InvalidArgumentError.
   */
  async setCollectionMetadata(name: string, metadata: Metadata | null, options?: CallOptions): Promise<void> {
    await this.http.call({ method: "PUT", path: `/v1/collections/${seg(name)}/metadata`, body: { metadata }, idempotent: true, options });
  }

  /**
   * Renames a collection (one catalog transaction; token scope `admin` on both names).
   * Not retried. Errors: NotFoundError, AlreadyExistsError, InvalidArgumentError.
   */
  async renameCollection(from: string, to: string, options?: CallOptions): Promise<void> {
    await this.http.call({ method: "POST", path: `/v1/collections/${seg(from)}/rename`, body: { name: to }, idempotent: false, options });
  }

  /** Deletes a collection and its files (token scope `admin`). Not retried. Errors: NotFoundError. */
  async dropCollection(name: string, options?: CallOptions): Promise<void> {
    await this.http.call({ method: "DELETE", path: `/v1/collections/${seg(name)}`, idempotent: false, options });
  }

  /**
   * Logs in with a user name and password; the client then sends the login token (for
   * key management). Retried on 429/503 (a refused login changed nothing; a repeated
   * one only issues another token). Errors: UnauthenticatedError, RateLimitedError.
   */
  async login(username: string, password: string, options?: CallOptions): Promise<LoginToken> {
    const t = loginIn(
      await this.http.call({ method: "POST", path: "/v1/auth/login", body: { username, password }, idempotent: true, options }),
    );
    this.http.token = t.token;
    return t;
  }

  /** Exchanges the current login token for a fresh one, which the client then sends. Retried. */
  async refresh(options?: CallOptions): Promise<LoginToken> {
    const t = loginIn(await this.http.call({ method: "POST", path: "/v1/auth/refresh", idempotent: true, options }));
    this.http.token = t.token;
    return t;
  }

  /** Who the login token belongs to. Retried. */
  async me(options?: CallOptions): Promise<WhoAmI> {
    return whoAmIIn(await this.http.call({ method: "GET", path: "/v1/auth/me", idempotent: true, options }));
  }

  /**
   * Creates an API key (needs a login token); the answer's `token` is its SDK token,
   * shown only this once. Not retried (a repeat would make a second key).
   */
  async createKey(request: CreateKeyRequest, options?: CallOptions): Promise<CreatedKey> {
    const body: Record<string, unknown> = { name: request.name, scopes: request.scopes };
    if (request.collections !== undefined) body.collections = request.collections;
    if (request.expiresIn !== undefined) body.expires_in = request.expiresIn;
    return createdKeyIn(await this.http.call({ method: "POST", path: "/v1/keys", body, idempotent: false, options }));
  }

  /** The caller's API keys (an admin's: everyone's), without tokens. Retried. */
  async listKeys(options?: CallOptions): Promise<ApiKey[]> {
    const r = await this.http.call<{ keys: object[] }>({ method: "GET", path: "/v1/keys", idempotent: true, options });
    return r.keys.map(apiKeyIn);
  }

  /** Revokes an API key; effective on the server's next request. Retried (revoking twice is fine). Errors: NotFoundError. */
  async revokeKey(keyId: string, options?: CallOptions): Promise<void> {
    await this.http.call({ method: "DELETE", path: `/v1/keys/${seg(keyId)}`, idempotent: true, options });
  }
}
