// Operations on one collection's points, searches and payload indexes.
import { CallOptions, Http, seg } from "./http.js";
import type {
  CollectionInfo,
  Filter,
  GetOptions,
  GetResult,
  ListRequest,
  Metadata,
  PayloadIndex,
  PayloadIndexType,
  Point,
  PointId,
  ScrollPage,
  ScrollRequest,
  SearchBatchRequest,
  SearchBatchResult,
  SearchRequest,
  SearchResult,
  StoredPoint,
  Vector,
} from "./types.js";
import { collectionIn, pointOut, searchFields, vec } from "./wire.js";

/**
 * A handle on the collection `name` (from `client.collection(name)`); it does not check
 * that the collection exists: the first call does (NotFoundError). Safe to share.
 */
export class Collection {
  readonly name: string;
  private readonly http: Http;
  private readonly base: string;

  /** @internal Use `client.collection(name)`. */
  constructor(http: Http, name: string) {
    this.http = http;
    this.name = name;
    this.base = `/v1/collections/${seg(name)}`;
  }

  /** The collection's config and stats. Retried. */
  async info(options?: CallOptions): Promise<CollectionInfo> {
    return collectionIn(await this.http.call({ method: "GET", path: this.base, idempotent: true, options }));
  }

  /**
   * Inserts or replaces points, atomically (all or none) and durably. Retried: writing
   * the same points again leaves the same state (docs/clients.md).
   * Errors: InvalidArgumentError (wrong dimension, NaN, bad id or metadata; nothing written).
   */
  async upsert(points: Point[], options?: CallOptions): Promise<{ upserted: number }> {
    if (!Array.isArray(points)) throw new TypeError("points must be an array of {id, vector, metadata?}");
    const r = await this.http.call<{ upserted: number }>({
      method: "PUT",
      path: `${this.base}/points`,
      body: { points: points.map(pointOut) },
      idempotent: true,
      options,
    });
    return { upserted: r.upserted };
  }

  /** The k nearest points to one vector, nearest first; filtered by `where`. Retried. */
  async search(request: SearchRequest, options?: CallOptions): Promise<SearchResult> {
    const body = { vector: vec(request.vector), ...searchFields(request) };
    const r = await this.http.call<SearchResult>({ method: "POST", path: `${this.base}/search`, body, idempotent: true, options });
    return { hits: r.hits };
  }

  /** Several queries in one request (at most 4096): one result per query, in order. Retried. */
  async searchBatch(request: SearchBatchRequest, options?: CallOptions): Promise<SearchBatchResult> {
    const body = { vectors: request.vectors.map(vec), ...searchFields(request) };
    const r = await this.http.call<SearchBatchResult>({ method: "POST", path: `${this.base}/search`, body, idempotent: true, options });
    return { results: r.results };
  }

  /** Points by id (metadata and vectors unless `include` says otherwise); missing ids in `notFound`. Retried. */
  async get(ids: PointId[], request: GetOptions = {}, options?: CallOptions): Promise<GetResult> {
    const body: Record<string, unknown> = { ids };
    if (request.include !== undefined) body.include = request.include;
    const r = await this.http.call<{ points: StoredPoint[]; not_found: string[] }>({
      method: "POST",
      path: `${this.base}/points/get`,
      body,
      idempotent: true,
      options,
    });
    return { points: r.points, notFound: r.not_found };
  }

  /**
   * Sets the metadata of existing points, keeping their vectors, atomically. With `merge`
   * (the default) each object is an RFC 7396 merge patch of the stored one (keys set,
   * nested objects merged, null removes a key); with `merge: false` it replaces it.
   * Retried. Errors: NotFoundError naming a missing id (nothing written), InvalidArgumentError.
   */
  async updateMetadata(
    points: { id: PointId; metadata: Metadata | null }[],
    request: { merge?: boolean } = {},
    options?: CallOptions,
  ): Promise<{ updated: number }> {
    if (!Array.isArray(points)) throw new TypeError("points must be an array of {id, metadata}");
    const body = { points: points.map((p) => ({ id: p.id, metadata: p.metadata })), merge: request.merge ?? true };
    const r = await this.http.call<{ updated: number }>({ method: "POST", path: `${this.base}/points/metadata`, body, idempotent: true, options });
    return { updated: r.updated };
  }

  /**
   * Replaces the vectors of existing points, keeping their metadata, atomically. Retried.
   * Errors: NotFoundError naming a missing id (nothing written), InvalidArgumentError.
   */
  async updateVectors(points: { id: PointId; vector: Vector }[], options?: CallOptions): Promise<{ updated: number }> {
    if (!Array.isArray(points)) throw new TypeError("points must be an array of {id, vector}");
    const body = { points: points.map((p) => ({ id: p.id, vector: vec(p.vector) })) };
    const r = await this.http.call<{ updated: number }>({ method: "POST", path: `${this.base}/points/vectors`, body, idempotent: true, options });
    return { updated: r.updated };
  }

  /** A page of points in id order (see ListRequest); cost grows with offset + limit. Retried. */
  async list(request: ListRequest = {}, options?: CallOptions): Promise<StoredPoint[]> {
    const body: Record<string, unknown> = {};
    if (request.where !== undefined) body.where = request.where;
    if (request.limit !== undefined) body.limit = request.limit;
    if (request.offset !== undefined) body.offset = request.offset;
    if (request.include !== undefined) body.include = request.include;
    const r = await this.http.call<{ points: StoredPoint[] }>({ method: "POST", path: `${this.base}/points/list`, body, idempotent: true, options });
    return r.points;
  }

  /**
   * Deletes points by id, atomically; `deleted` counts those that existed. Retried (a
   * second delete of the same ids changes nothing; after a retry `deleted` counts only
   * what the last attempt found).
   */
  async delete(ids: PointId[], options?: CallOptions): Promise<{ deleted: number }> {
    return this.deletePoints({ ids }, true, options);
  }

  /**
   * Deletes every point matching `where`, atomically. Not retried: a repeat could delete
   * points written in between.
   */
  async deleteWhere(where: Filter, options?: CallOptions): Promise<{ deleted: number }> {
    return this.deletePoints({ where }, false, options);
  }

  private async deletePoints(body: object, idempotent: boolean, options?: CallOptions): Promise<{ deleted: number }> {
    const r = await this.http.call<{ deleted: number }>({ method: "POST", path: `${this.base}/points/delete`, body, idempotent, options });
    return { deleted: r.deleted };
  }

  /** How many points there are, or how many match `where`. Retried. */
  async count(where?: Filter, options?: CallOptions): Promise<number> {
    const body = where === undefined ? {} : { where };
    const r = await this.http.call<{ count: number }>({ method: "POST", path: `${this.base}/count`, body, idempotent: true, options });
    return r.count;
  }

  /** One page of points in id order (metadata only unless `include` says otherwise). Retried. */
  async scroll(request: ScrollRequest = {}, options?: CallOptions): Promise<ScrollPage> {
    const body: Record<string, unknown> = {};
    if (request.limit !== undefined) body.limit = request.limit;
    if (request.cursor !== undefined && request.cursor !== null) body.cursor = request.cursor;
    if (request.where !== undefined) body.where = request.where;
    if (request.include !== undefined) body.include = request.include;
    const r = await this.http.call<{ points: StoredPoint[]; next_cursor: string | null }>({
      method: "POST",
      path: `${this.base}/scroll`,
      body,
      idempotent: true,
      options,
    });
    return { points: r.points, nextCursor: r.next_cursor ?? null };
  }

  /** Every page, from `request.cursor` (or the start) to the end: `for await (const page of col.scrollPages())`. */
  async *scrollPages(request: ScrollRequest = {}, options?: CallOptions): AsyncGenerator<ScrollPage, void, undefined> {
    let cursor = request.cursor ?? null;
    for (;;) {
      const page = await this.scroll({ ...request, cursor }, options);
      yield page;
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
    }
  }

  /** Every point (matching `where`), in id order, fetched a page at a time: `for await (const p of col.scrollAll())`. */
  async *scrollAll(request: ScrollRequest = {}, options?: CallOptions): AsyncGenerator<StoredPoint, void, undefined> {
    for await (const page of this.scrollPages(request, options)) yield* page.points;
  }

  /** Indexes a metadata field for faster filters. Not retried. Errors: AlreadyExistsError. */
  async createPayloadIndex(field: string, type: PayloadIndexType, options?: CallOptions): Promise<PayloadIndex> {
    return this.http.call<PayloadIndex>({
      method: "POST",
      path: `${this.base}/indexes`,
      body: { field, type },
      idempotent: false,
      options,
    });
  }

  /** The payload indexes. Retried. */
  async listPayloadIndexes(options?: CallOptions): Promise<PayloadIndex[]> {
    const r = await this.http.call<{ indexes: PayloadIndex[] }>({ method: "GET", path: `${this.base}/indexes`, idempotent: true, options });
    return r.indexes;
  }

  /** Drops a payload index. Not retried. Errors: NotFoundError. */
  async dropPayloadIndex(field: string, options?: CallOptions): Promise<void> {
    await this.http.call({ method: "DELETE", path: `${this.base}/indexes/${seg(field)}`, idempotent: false, options });
  }
}
