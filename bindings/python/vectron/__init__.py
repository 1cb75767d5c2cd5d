"""Vectron: an embedded vector database, in-process, and a client of its server with
the same API (``vectron.connect``, see :mod:`vectron.remote`).

Quick start::

    import numpy as np
    import vectron

    with vectron.open("./data") as db:
        docs = db.get_or_create_collection("docs", dim=4, metric="cosine")
        docs.upsert(["a", "b"], np.eye(2, 4, dtype=np.float32),
                    metadata=[{"lang": "en"}, {"lang": "de"}])
        for hit in docs.search([1, 0, 0, 0], k=1):
            print(hit.id, hit.score, hit.metadata)

Scores are distances: lower is nearer (``l2``: squared Euclidean; ``cosine``: 1 - cosine
similarity; ``ip``: negative inner product).

Threads: every method may be called from any thread. The GIL is released while the
engine works (open, upsert, delete, search, get, scroll, count, checkpoint, close), so
Python threads searching or writing run in parallel. Several processes may open the same
directory; one process may open a directory only once at a time. A database opened
before ``fork()`` is unusable in the child (calls raise DatabaseClosedError saying so);
the child opens the directory itself.

numpy: float32 C-contiguous arrays are read in place (no copy); anything else that
``numpy.asarray(x, dtype=numpy.float32)`` accepts (lists, lists of lists, float64
arrays) is converted first.

A server instead of a directory: change the line that opens the database::

    db = vectron.connect("https://127.0.0.1:7700", token=KEY, ca="vectron-data/tls/cert.pem")
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as _np

from .errors import (
    AbortedError,
    AlreadyExistsError,
    CancelledError,
    ConnectionFailedError,
    CorruptionError,
    DatabaseClosedError,
    DeadlineExceededError,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResourceExhaustedError,
    StorageIOError,
    UnauthenticatedError,
    UnavailableError,
)
from . import _vectron
# The value types and the engine's defaults are shared with the client (vectron.remote).
from ._common import (  # noqa: F401
    _CFG,
    _DB,
    _SEARCH,
    _U64_MAX,
    CollectionStats,
    Hit,
    Point,
    ScrollPage,
    _collection_args,
    _floats,
    _ids,
    _include,
    _int,
    _json_object,
    _meta,
    _name,
    _search_args,
    _upsert_args,
    _where,
    _CollectionMixin,
    _GET_INCLUDE,
    _scroll_args,
    _single_id,
)
from ._rerank import RerankedHit, RerankedHits, _RerankMixin  # noqa: F401
from ._users import _UsersMixin, _chroma_names

__version__ = "0.1.0"

__all__ = [
    "open",
    "connect",
    "Database",
    "Client",
    "RemoteCollection",
    "ApiKey",
    "Collection",
    "Hit",
    "Point",
    "ScrollPage",
    "CollectionStats",
    "Error",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "FailedPreconditionError",
    "DatabaseClosedError",
    "ResourceExhaustedError",
    "UnavailableError",
    "AbortedError",
    "CorruptionError",
    "StorageIOError",
    "InternalError",
    "CancelledError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ConnectionFailedError",
    "DeadlineExceededError",
]


# ---------------------------------------------------------------------------------------
# Collection


class Collection(_UsersMixin, _CollectionMixin, _RerankMixin):
    """A named set of points (id, float32 vector, optional JSON-object metadata).

    Get one from :meth:`Database.create_collection`, :meth:`Database.get_collection` or
    :meth:`Database.get_or_create_collection`. A handle stays usable until its database
    closes (then calls raise :class:`DatabaseClosedError`) or the collection is dropped
    (then :class:`NotFoundError`). Thread-safe.
    """

    __slots__ = ("_c", "_db")

    def __init__(self, native: "_vectron.Collection", db: "Database") -> None:
        self._c = native
        self._db = db

    # -- description

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._c.name

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._c.dim

    @property
    def metric(self) -> str:
        """Distance: ``"cosine"``, ``"l2"`` or ``"ip"``."""
        return self._c.config["metric"]

    @property
    def config(self) -> dict[str, Any]:
        """The full configuration: dim, metric, m, ef_construction, ef_search, seed,
        shards, flat_max_points, checkpoint_every_ops."""
        return dict(self._c.config)

    @property
    def database(self) -> "Database":
        """The database this collection belongs to."""
        return self._db

    def __repr__(self) -> str:
        c = self._c.config
        return f"<vectron.Collection {self.name!r} dim={c['dim']} metric={c['metric']!r}>"

    # -- writes

    def upsert(
        self,
        ids: "str | Sequence[str]",
        vectors: Any = None,
        metadata: "Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None" = None,
        *,
        embeddings: Any = None,
        metadatas: Any = None,
    ) -> None:
        """Inserts points, or replaces the vector and metadata of existing ids.

        ``ids``: a sequence of str (1-256 bytes each, no repeats), or one str.
        ``vectors``: shape ``(len(ids), dim)`` (or ``(dim,)`` for one id); a float32
        C-contiguous numpy array is used in place. ``metadata``: ``None``, or one dict
        (or ``None``) per id; JSON-serialisable.

        The whole batch is applied atomically and is durable when this returns.
        Raises :class:`InvalidArgumentError` naming the bad entry (wrong dimension,
        NaN/Inf, empty/oversize/repeated id, non-dict metadata); nothing is written then.

        All or nothing, also for Ctrl-C: a ``KeyboardInterrupt`` during the call is
        raised when the engine is done, with a note saying the whole batch was written
        (or, if it came before the write started, that none was). To be able to stop a
        long import part-way, upsert in batches (e.g. 10,000 points per call).
        """
        vectors, metadata = _chroma_names(vectors, embeddings, metadata, metadatas)
        id_list, vecs, metas = _upsert_args(ids, vectors, metadata, self.dim)
        self._c.upsert(id_list, vecs, metas)

    def _update(self, op: int, ids: list, vectors: Any, metadata: list) -> None:
        self._c.update(op, ids, vectors if vectors is not None else _np.zeros((0, 0), _np.float32), metadata)

    def _list(self, where: str, limit: int, offset: int, iv: bool, im: bool) -> list:
        return [Point(i, v, _meta(m)) for (i, v, m) in self._c.list(where, limit, offset, iv, im)]

    def _get_collection_metadata(self) -> str:
        return self._db._db.get_collection_metadata(self.name)

    def _set_collection_metadata(self, text: str) -> None:
        self._db._db.set_collection_metadata(self.name, text)

    def _rename(self, name: str) -> None:
        self._db._db.rename_collection(self.name, _name(name))
        self._c = self._db._db.get_collection(name)

    def delete(
        self,
        ids: "str | Sequence[str] | None" = None,
        where: "Mapping[str, Any] | str | None" = None,
    ) -> "int | None":
        """Deletes points by id, or every point whose metadata matches ``where``.

        Give exactly one of ``ids`` and ``where``. Deleting unknown ids is not an error.
        Returns the number of points deleted for ``where``, ``None`` for ``ids``.
        Atomic and durable when it returns.
        """
        if (ids is None) == (where is None):
            raise InvalidArgumentError("delete needs exactly one of ids= or where=")
        if ids is not None:
            self._c.delete(_ids(ids))
            return None
        return self._c.delete_where(_where(where))

    # -- reads

    def search(
        self,
        query: Any,
        k: int = _SEARCH["k"],
        *,
        where: "Mapping[str, Any] | str | None" = None,
        ef: "int | None" = None,
        exact: bool = False,
        include: "str | Iterable[str] | None" = ("metadata",),
        as_numpy: bool = False,
        threads: int = 0,
        filter_strategy: str = "auto",
        offset: int = 0,
        score_threshold: "float | None" = None,
        rerank: "Mapping[str, Any] | str | None" = None,
        explain: bool = False,
    ) -> Any:
        """The ``k`` nearest points to ``query``, nearest first.

        ``query``: one vector (shape ``(dim,)``) or many (shape ``(n, dim)``); many are
        searched in parallel over ``threads`` engine threads (0 = the database's
        ``threads`` setting) with the GIL released.
        ``where``: metadata filter (dict or JSON text, see docs/filter.md); only
        matching points are returned. ``ef``: HNSW beam width (``None`` = the
        collection's ``ef_search``); ``exact``: brute force.
        ``filter_strategy`` (with ``where``): ``"auto"`` (the planner picks per query),
        ``"exact"``, ``"graph"`` or ``"post_filter"`` (docs/filter.md, "Planner").
        ``include``: any of ``"vector"``, ``"metadata"`` to fill in on each hit.
        ``offset``: skip the first ``offset`` hits (paging: the hits ranked
        ``offset .. offset + k - 1``). ``score_threshold``: drop hits whose score
        (distance) is above it, so fewer than ``k`` may come.

        Returns a ``list[Hit]`` for one query, ``list[list[Hit]]`` for many. With
        ``as_numpy=True`` returns ``(ids, scores)`` numpy arrays instead, of shape
        ``(m,)`` or ``(n, m)``: ids a unicode array, scores float32. ``m`` is the most
        hits any row got: ``min(k, len(collection))`` without a filter, so a huge ``k``
        costs nothing; shorter rows are padded with id ``""`` and score ``inf``. This is the fast
        path (no per-hit Python objects); ``include`` is ignored.

        ``rerank``: a pipeline (dict, docs/rerank.md; ``"custom"`` may be a callable
        ``fn(query, ids, distances, vectors, metadata_texts) -> scores`` or
        ``{"fn": fn, "weight": w}``), or ``"default"`` for the collection's stored one;
        ``explain=True`` fills each hit's components. Either returns a
        :class:`RerankedHits` (one query only) with ``query_id``.

        Raises :class:`InvalidArgumentError` for a wrong dimension, NaN/Inf, k < 1,
        ef < 0, a malformed filter or a bad pipeline (naming the stage).
        """
        if rerank is not None or explain:
            if as_numpy or score_threshold is not None:
                raise InvalidArgumentError("rerank/explain cannot be combined with as_numpy or score_threshold")
            return self._search_reranked(query, k, rerank, explain, where, ef, exact, include, filter_strategy, offset)
        k, ef_v, threads, w = _search_args(k, ef, threads, where, filter_strategy)
        paged = self._search_paged(query, k, offset, score_threshold, as_numpy, where=where, ef=ef, exact=exact,
                                   include=include, threads=threads, filter_strategy=filter_strategy)
        if paged is not None:
            return paged
        fs = filter_strategy
        q = _floats(query, "query")
        if q.ndim == 1:
            if as_numpy:
                ids, scores = self._c.search_batch_numpy(q.reshape(1, -1), k, ef_v, bool(exact), w, fs, threads)
                return ids[0], scores[0]
            iv, im = _include(include)
            return [Hit(i, s, v, _meta(m)) for (i, s, v, m) in self._c.search(q, k, ef_v, bool(exact), iv, im, w, fs)]
        if q.ndim != 2:
            raise InvalidArgumentError(f"query must have shape (dim,) or (n, dim), got shape {q.shape}")
        if as_numpy:
            return self._c.search_batch_numpy(q, k, ef_v, bool(exact), w, fs, threads)
        iv, im = _include(include)
        rows = self._c.search_batch(q, k, ef_v, bool(exact), iv, im, w, fs, threads)
        return [[Hit(i, s, v, _meta(m)) for (i, s, v, m) in row] for row in rows]

    def get(
        self,
        ids: "str | Sequence[str] | None" = None,
        include: "str | Iterable[str] | None" = _GET_INCLUDE,
        *,
        where: "Mapping[str, Any] | str | None" = None,
        limit: "int | None" = None,
        offset: "int | None" = None,
        format: str = "points",
    ) -> Any:
        """Points by id, in order, ``None`` where an id does not exist.

        One id in, one ``Point | None`` out; a sequence in, a list out. Ids may be
        str, int or ``uuid.UUID`` (stored as their canonical text).

        Without ``ids``: the points matching ``where`` (all without it) in id order,
        skipping ``offset``, at most ``limit`` (1..10,000; ``None`` = all).
        ``format="chroma"``: a dict of lists (``ids``, ``embeddings``, ``metadatas``)
        as Chroma's ``get`` returns, with Chroma's include names.
        """
        other = self._get_forms(ids, include, where, limit, offset, format)
        if other is not self._BY_IDS:
            return other
        iv, im = _include(include)
        single = _single_id(ids)
        got = [None if p is None else Point(p[0], p[1], _meta(p[2])) for p in self._c.get(_ids(ids), iv, im)]
        return got[0] if single else got

    def count(self, where: "Mapping[str, Any] | str | None" = None) -> int:
        """Number of live points, or of those whose metadata matches ``where``."""
        return self._c.count(_where(where))

    def scroll(
        self,
        limit: int = 100,
        cursor: "str | None" = None,
        *,
        where: "Mapping[str, Any] | str | None" = None,
        include: "str | Iterable[str] | None" = ("vector", "metadata"),
    ) -> ScrollPage:
        """A page of up to ``limit`` points in id order, starting after ``cursor``
        (``None`` = from the start), optionally only those matching ``where``. Pass
        ``page.next_cursor`` to get the next page; it is ``None`` at the end."""
        limit = _scroll_args(limit, cursor)
        iv, im = _include(include)
        points, nxt = self._c.scroll(cursor or "", limit, iv, im, _where(where))
        return ScrollPage([Point(i, v, _meta(m)) for (i, v, m) in points], nxt or None)

    # -- payload indexes

    def create_payload_index(self, field: str, type: str) -> None:
        """Indexes metadata field ``field`` (dotted path) for values of ``type``
        (``"keyword"``, ``"integer"``, ``"float"`` or ``"bool"``) so filters on it
        are fast. Indexes existing points. Raises :class:`AlreadyExistsError` if the
        field is already indexed."""
        self._c.create_payload_index(field, type)

    def drop_payload_index(self, field: str) -> None:
        """Removes the payload index on ``field``. Raises :class:`NotFoundError`."""
        self._c.drop_payload_index(field)

    def list_payload_indexes(self) -> dict[str, str]:
        """``{field: type}`` for every payload index."""
        return dict(self._c.list_payload_indexes())

    # -- maintenance

    def stats(self) -> CollectionStats:
        """Point count, index memory, disk use, deleted slots and index kind."""
        return CollectionStats(**self._c.stats())

    def checkpoint(self) -> None:
        """Saves every shard's index to disk now (reopening then loads it instead of
        rebuilding)."""
        self._c.checkpoint()


# ---------------------------------------------------------------------------------------
# Database


class Database:
    """A directory of collections. Create with :func:`vectron.open`.

    Use as a context manager, or call :meth:`close`; closing saves index checkpoints so
    the next open is fast. After closing, every call (also on its collections) raises
    :class:`DatabaseClosedError`. Thread-safe.
    """

    __slots__ = ("_db", "__weakref__")

    def __init__(self, native: "_vectron.Database") -> None:
        self._db = native

    @property
    def path(self) -> str:
        """The database directory."""
        return self._db.path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (also ``True`` in a ``fork()`` child
        for a database its parent opened)."""
        return self._db.closed

    def close(self) -> None:
        """Closes every collection, saving index checkpoints. Idempotent. From the
        moment it starts, new calls from any thread raise :class:`DatabaseClosedError`;
        it waits only for the calls already running. In a ``fork()`` child, closing a
        database the parent opened does nothing (it stays open in the parent)."""
        self._db.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vectron.Database {self.path!r}{' closed' if self.closed else ''}>"

    def create_collection(
        self,
        name: str,
        *,
        dim: int,
        metric: str = _CFG["metric"],
        m: int = _CFG["m"],
        ef_construction: int = _CFG["ef_construction"],
        ef_search: int = _CFG["ef_search"],
        shards: int = _CFG["shards"],
        seed: int = _CFG["seed"],
        flat_max_points: int = _CFG["flat_max_points"],
        checkpoint_every_ops: int = _CFG["checkpoint_every_ops"],
        quantization: str = "none",
        metadata: "Mapping[str, Any] | None" = None,
    ) -> Collection:
        """Creates a collection.

        ``name``: 1-64 of ``[A-Za-z0-9_-]``. ``dim``: 1..65536. ``metric``:
        ``"cosine"`` (default), ``"l2"`` or ``"ip"``. HNSW: ``m`` (graph degree),
        ``ef_construction`` (build beam), ``ef_search`` (default search beam), ``seed``.
        ``shards``: points are hashed by id over 1..256 shards. ``flat_max_points``:
        per shard, search is exact until it holds more points than this.
        ``checkpoint_every_ops``: save the graph after this many changes.
        ``quantization``: ``"none"`` or ``"sq8"`` (8-bit scalar codes searched first,
        re-ranked with the float32 vectors; docs/architecture.md). ``metadata``: a
        JSON object stored with the collection (see :attr:`Collection.metadata`).

        Raises :class:`InvalidArgumentError` (name, config) or :class:`AlreadyExistsError`.
        """
        args = _collection_args(dim, metric, m, ef_construction, ef_search, seed, shards, flat_max_points,
                                checkpoint_every_ops, quantization)
        meta = _json_object(metadata, "metadata") or ""
        return Collection(self._db.create_collection(_name(name), *args, meta), self)

    def get_collection(self, name: str) -> Collection:
        """The collection ``name``. Raises :class:`NotFoundError` (a KeyError)."""
        return Collection(self._db.get_collection(_name(name)), self)

    def get_or_create_collection(
        self,
        name: str,
        *,
        dim: int,
        metric: str = _CFG["metric"],
        m: int = _CFG["m"],
        ef_construction: int = _CFG["ef_construction"],
        ef_search: int = _CFG["ef_search"],
        shards: int = _CFG["shards"],
        seed: int = _CFG["seed"],
        flat_max_points: int = _CFG["flat_max_points"],
        checkpoint_every_ops: int = _CFG["checkpoint_every_ops"],
        quantization: str = "none",
        metadata: "Mapping[str, Any] | None" = None,
    ) -> Collection:
        """The existing collection ``name`` or a new one with this config (see
        :meth:`create_collection`). An existing collection must have the same ``dim``
        and ``metric``, else :class:`FailedPreconditionError`."""
        args = _collection_args(dim, metric, m, ef_construction, ef_search, seed, shards, flat_max_points,
                                checkpoint_every_ops, quantization)
        if metadata is not None:  # Stored only if this call creates the collection.
            try:
                return Collection(self._db.create_collection(_name(name), *args, _json_object(metadata, "metadata")),
                                  self)
            except AlreadyExistsError:
                pass
        return Collection(self._db.get_or_create_collection(_name(name), *args), self)

    def list_collections(self) -> list[str]:
        """Names of every collection, sorted."""
        return sorted(self._db.list_collections())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._db.list_collections()

    def drop_collection(self, name: str) -> None:
        """Deletes the collection and its files; its handles then raise
        :class:`NotFoundError` (new calls at once; calls already running finish first).
        Raises :class:`NotFoundError` if it does not exist."""
        self._db.drop_collection(_name(name))

    def rename_collection(self, old: str, new: str) -> None:
        """Renames collection ``old`` to ``new`` (see :meth:`Collection.rename`).
        Raises :class:`NotFoundError` or :class:`AlreadyExistsError`."""
        self._db.rename_collection(_name(old), _name(new))

    def sync(self) -> None:
        """Flushes every environment to disk (needed after writes with
        ``durability="nosync"``)."""
        self._db.sync()


def open(
    path: "str | Any",
    *,
    create_if_missing: bool = _DB["create_if_missing"],
    durability: str = _DB["durability"],
    map_size_bytes: int = _DB["map_size_bytes"],
    threads: int = _DB["threads"],
) -> Database:
    """Opens (or creates) the database in directory ``path``.

    ``durability``: ``"full"`` (fsync every commit, default), ``"nometasync"`` or
    ``"nosync"`` (bulk loads; call :meth:`Database.sync` at the end). A process crash
    never loses an acknowledged write in any mode. ``map_size_bytes``: address space
    reserved per shard (disk use grows only with data). ``threads``: for batch search
    and index builds, 0 = all hardware threads.

    Opening loads saved index checkpoints and catches them up (the GIL is released).
    Raises :class:`NotFoundError` (missing and not ``create_if_missing``),
    :class:`FailedPreconditionError` (already open in this process, other format
    version), :class:`ResourceExhaustedError` (e.g. ``map_size_bytes`` of address space
    could not be reserved under a memory limit), :class:`CorruptionError`,
    :class:`StorageIOError`.
    """
    import os

    p = os.fspath(path)
    if not isinstance(p, str):
        p = os.fsdecode(p)
    if not isinstance(durability, str):
        raise TypeError(f"durability must be str, not {type(durability).__name__}")
    native = _vectron.Database.open(
        p, bool(create_if_missing), durability, _int(map_size_bytes, "map_size_bytes", 1, _U64_MAX),
        _int(threads, "threads", 0, 1 << 16))
    return Database(native)


# The client of a server: the same API over HTTP (imported last: it uses the types above).
from .remote import ApiKey, Client, RemoteCollection, connect  # noqa: E402
