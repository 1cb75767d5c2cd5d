"""``vectron.connect``: a client of ``vectron serve`` (or a cluster's gateway) over its
REST API, with the collection API of ``vectron.open`` — code moves from the embedded
engine to a server by changing the line that opens the database::

    db = vectron.open("./data")                                          # embedded
    db = vectron.connect("https://db:7700", token=KEY, ca="cert.pem")    # server

Pure Python (``http.client`` and ``ssl``): keep-alive connections, TLS with a custom CA,
timeouts, retries with backoff and jitter for idempotent calls, and the server's errors
as the same exception classes (see :mod:`vectron.errors`). Thread-safe: threads may share
one client; each request uses a pooled connection of its own.

No asyncio variant: in ``async`` code run calls in a thread, e.g.
``await asyncio.to_thread(col.search, q)`` (the client is thread-safe).
"""

from __future__ import annotations

import json as _json
import math
import urllib.parse
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as _np

from . import _http
from ._common import (
    _CFG,
    _SEARCH,
    CollectionStats,
    Hit,
    Point,
    ScrollPage,
    _collection_args,
    _config_dict,
    _floats,
    _ids,
    _include,
    _int,
    _json_object,
    _name,
    _search_args,
    _upsert_args,
    _where,
    _CollectionMixin,
    _GET_INCLUDE,
    _scroll_args,
    _single_id,
)
from ._users import _UsersMixin, _chroma_names
from .errors import AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, UnavailableError

__all__ = ["connect", "Client", "RemoteCollection", "ApiKey"]

# Queries per search request of a batch: the server takes at most 4096, and a request
# body is kept to a few MiB whatever the dimension.
_BATCH_QUERIES_MAX = 4096
_BATCH_BODY_FLOATS = 1 << 20


def _q(name: str) -> str:
    return urllib.parse.quote(_name(name), safe="")


def _include_list(include: Any) -> list[str]:
    vec, meta = _include(include)
    return (["vector"] if vec else []) + (["metadata"] if meta else [])


def _where_object(where: Any) -> "dict | None":
    """The filter as the JSON object the REST API takes (None = no filter)."""
    text = _where(where)
    if not text:
        return None
    if isinstance(where, Mapping):
        return dict(where)
    try:
        obj = _json.loads(text)
    except ValueError as e:
        raise InvalidArgumentError(f"where is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidArgumentError(f"where must be a JSON object, got {type(obj).__name__}")
    return obj


def _check_finite(vecs: _np.ndarray, what: Any) -> None:
    """JSON cannot carry NaN or Inf: refuse them here, worded as the engine does.
    ``what(i)`` names row i."""
    bad = ~_np.isfinite(vecs)
    if bad.any():
        i, j = (int(x) for x in _np.argwhere(bad)[0])
        kind = "NaN" if math.isnan(float(vecs[i, j])) else "Inf"
        raise InvalidArgumentError(f"{what(i)} has a non-finite value ({kind}) at position {j}")


def _vector(v: Any) -> "_np.ndarray | None":
    return None if v is None else _np.asarray(v, dtype=_np.float32)


def _hit(h: Mapping[str, Any], vec: bool, meta: bool) -> Hit:
    return Hit(h["id"], float(h["score"]), _vector(h.get("vector")) if vec else None,
               h.get("metadata") if meta else None)


def _point(p: Mapping[str, Any], vec: bool, meta: bool) -> Point:
    return Point(p["id"], _vector(p.get("vector")) if vec else None, p.get("metadata") if meta else None)


def _as_numpy(rows: list[list[Hit]], k: int) -> tuple[_np.ndarray, _np.ndarray]:
    """(ids, scores) of shape (n, m), m = the most hits of any row (<= k), padded with ""
    and inf, as the embedded fast path."""
    width = max([1] + [len(h.id) for row in rows for h in row])
    k = max([0] + [min(len(row), k) for row in rows])
    ids = _np.full((len(rows), k), "", dtype=f"<U{width}")
    scores = _np.full((len(rows), k), _np.inf, dtype=_np.float32)
    for i, row in enumerate(rows):
        for j, h in enumerate(row[:k]):
            ids[i, j] = h.id
            scores[i, j] = h.score
    return ids, scores


class ApiKey:
    """An API key just created with :meth:`Client.create_key`. ``token`` (the SDK token
    programs pass to :func:`connect`) is shown only this once."""

    __slots__ = ("key_id", "token", "name", "scopes", "expires_at")

    def __init__(self, key_id: str, token: str, name: str, scopes: list[str], expires_at: "int | None") -> None:
        self.key_id = key_id
        self.token = token
        self.name = name
        self.scopes = scopes
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"<vectron.ApiKey {self.key_id} {self.name!r} scopes={self.scopes}>"


# ---------------------------------------------------------------------------------------
# Collection


class RemoteCollection(_UsersMixin, _CollectionMixin):
    """A collection on a server: the methods of :class:`vectron.Collection`, over HTTP.

    Differences: no ``checkpoint()`` (the server checkpoints by itself); ``threads`` of
    ``search`` is accepted and ignored (the server parallelises across requests); a
    handle names its collection, so after a drop and a create by the same name it reaches
    the new collection. Thread-safe.
    """

    __slots__ = ("_client", "_name", "_config")

    def __init__(self, client: "Client", name: str, config: Mapping[str, Any]) -> None:
        self._client = client
        self._name = name
        self._config = _config_dict(config)

    def _call(self, method: str, suffix: str, body: Any = None, *, idempotent: bool) -> Any:
        return self._client._t.call(method, f"/v1/collections/{_q(self._name)}{suffix}", body, idempotent=idempotent)

    # -- description

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._name

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._config["dim"]

    @property
    def metric(self) -> str:
        """Distance: ``"cosine"``, ``"l2"`` or ``"ip"``."""
        return self._config["metric"]

    @property
    def config(self) -> dict[str, Any]:
        """The configuration: dim, metric, m, ef_construction, ef_search, seed, shards,
        flat_max_points, checkpoint_every_ops."""
        return dict(self._config)

    @property
    def database(self) -> "Client":
        """The client this collection was opened with."""
        return self._client

    def __repr__(self) -> str:
        return f"<vectron.RemoteCollection {self._name!r} dim={self.dim} metric={self.metric!r} at {self._client.url}>"

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
        """Inserts points, or replaces existing ids; atomic, and durable on the server when
        it returns. Arguments as :meth:`vectron.Collection.upsert`. Retried on transient
        failures (an upsert applied twice is applied once)."""
        vectors, metadata = _chroma_names(vectors, embeddings, metadata, metadatas)
        id_list, vecs, metas = _upsert_args(ids, vectors, metadata, self.dim)
        if len(id_list) != vecs.shape[0]:
            raise InvalidArgumentError(f"got {len(id_list)} ids but {vecs.shape[0]} vectors")
        if not id_list:
            return
        _check_finite(vecs, lambda i: f'batch entry {i} (id "{id_list[i]}"): vector')
        # Metadata is already validated JSON text: spliced in rather than parsed again.
        parts = []
        for i, pid in enumerate(id_list):
            meta = metas[i] if metas and metas[i] else "null"
            parts.append(f'{{"id":{_json.dumps(pid, ensure_ascii=False)},'
                         f'"vector":{_json.dumps(vecs[i].tolist())},"metadata":{meta}}}')
        self._client._t.call("PUT", f"/v1/collections/{_q(self._name)}/points",
                             raw=('{"points":[' + ",".join(parts) + "]}").encode(), idempotent=True)

    def _update(self, op: int, ids: list, vectors: Any, metadata: list) -> None:
        if op == 5:
            _check_finite(vectors, lambda i: f'batch entry {i} (id "{ids[i]}"): vector')
            pts = [{"id": pid, "vector": vectors[i].tolist()} for i, pid in enumerate(ids)]
            self._call("POST", "/points/vectors", {"points": pts}, idempotent=True)
            return
        # Metadata is already validated JSON text: spliced in rather than parsed again.
        parts = [f'{{"id":{_json.dumps(pid, ensure_ascii=False)},"metadata":{metadata[i] or "null"}}}'
                 for i, pid in enumerate(ids)]
        body = '{"merge":' + ("true" if op == 4 else "false") + ',"points":[' + ",".join(parts) + "]}"
        # A set is idempotent; a merge applied twice gives the same result too.
        self._client._t.call("POST", f"/v1/collections/{_q(self._name)}/points/metadata", raw=body.encode(),
                             idempotent=True)

    def _get_collection_metadata(self) -> str:
        m = self._call("GET", "", idempotent=True).get("metadata")
        return "" if m is None else _json.dumps(m)

    def _set_collection_metadata(self, text: str) -> None:
        self._client._t.call("PUT", f"/v1/collections/{_q(self._name)}/metadata",
                             raw=('{"metadata":' + (text or "null") + "}").encode(), idempotent=True)

    def _rename(self, name: str) -> None:
        _name(name)
        self._call("POST", "/rename", {"name": name}, idempotent=False)
        self._name = name

    def _list(self, where: str, limit: int, offset: int, iv: bool, im: bool) -> list:
        body: dict[str, Any] = {"limit": limit, "offset": offset,
                                "include": (["vector"] if iv else []) + (["metadata"] if im else [])}
        if where:
            body["where"] = _json.loads(where)
        return [_point(p, iv, im) for p in self._call("POST", "/points/list", body, idempotent=True)["points"]]

    def delete(
        self,
        ids: "str | Sequence[str] | None" = None,
        where: "Mapping[str, Any] | str | None" = None,
    ) -> "int | None":
        """Deletes by id (returns ``None``; retried on transient failures) or every point
        matching ``where`` (returns how many; not retried)."""
        if (ids is None) == (where is None):
            raise InvalidArgumentError("delete needs exactly one of ids= or where=")
        if ids is not None:
            id_list = _ids(ids)
            if id_list:
                self._call("POST", "/points/delete", {"ids": id_list}, idempotent=True)
            return None
        w = _where_object(where)
        return int(self._call("POST", "/points/delete", {"where": w if w is not None else {}},
                              idempotent=False)["deleted"])

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
    ) -> Any:
        """The ``k`` nearest points to ``query`` (one vector, or a 2-D array of queries),
        with the arguments and return types of :meth:`vectron.Collection.search`. A large
        batch is sent in several requests."""
        k, ef_v, _, _ = _search_args(k, ef, threads, where, filter_strategy)
        paged = self._search_paged(query, k, offset, score_threshold, as_numpy, where=where, ef=ef, exact=exact,
                                   include=include, filter_strategy=filter_strategy)
        if paged is not None:
            return paged
        body: dict[str, Any] = {"k": k, "exact": bool(exact)}
        if ef_v:
            body["ef"] = ef_v
        w = _where_object(where)
        if w is not None:
            body["where"] = w
        if filter_strategy != "auto":
            body["filter_strategy"] = filter_strategy
        q = _floats(query, "query")
        if q.ndim not in (1, 2):
            raise InvalidArgumentError(f"query must have shape (dim,) or (n, dim), got shape {q.shape}")
        vec, meta = (False, False) if as_numpy else _include(include)
        body["include"] = (["vector"] if vec else []) + (["metadata"] if meta else [])
        if q.ndim == 1:
            _check_finite(q.reshape(1, -1), lambda i: "query vector")
            body["vector"] = q.tolist()
            hits = [_hit(h, vec, meta) for h in self._call("POST", "/search", body, idempotent=True)["hits"]]
            if as_numpy:
                ids, scores = _as_numpy([hits], k)
                return ids[0], scores[0]
            return hits
        _check_finite(q, lambda i: f"query {i}: query vector")
        rows: list[list[Hit]] = []
        step = max(1, min(_BATCH_QUERIES_MAX, _BATCH_BODY_FLOATS // max(1, q.shape[1])))
        for start in range(0, q.shape[0], step):
            body["vectors"] = q[start:start + step].tolist()
            results = self._call("POST", "/search", body, idempotent=True)["results"]
            rows += [[_hit(h, vec, meta) for h in r["hits"]] for r in results]
        return _as_numpy(rows, k) if as_numpy else rows

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
        """Points by id, in order, ``None`` where an id does not exist (one id in, one
        ``Point | None`` out); or without ``ids`` a page by ``where`` / ``limit`` /
        ``offset``; arguments as :meth:`vectron.Collection.get`."""
        other = self._get_forms(ids, include, where, limit, offset, format)
        if other is not self._BY_IDS:
            return other
        vec, meta = _include(include)
        single = _single_id(ids)
        id_list = _ids(ids)
        found: dict[str, Point] = {}
        if id_list:
            answer = self._call("POST", "/points/get", {"ids": id_list, "include": _include_list(include)},
                                idempotent=True)
            found = {p["id"]: _point(p, vec, meta) for p in answer["points"]}
        got = [found.get(i) for i in id_list]
        return got[0] if single else got

    def count(self, where: "Mapping[str, Any] | str | None" = None) -> int:
        """Number of points, or of those whose metadata matches ``where``."""
        w = _where_object(where)
        return int(self._call("POST", "/count", {} if w is None else {"where": w}, idempotent=True)["count"])

    def scroll(
        self,
        limit: int = 100,
        cursor: "str | None" = None,
        *,
        where: "Mapping[str, Any] | str | None" = None,
        include: "str | Iterable[str] | None" = ("vector", "metadata"),
    ) -> ScrollPage:
        """A page of up to ``limit`` points in id order after ``cursor`` (``None`` = from
        the start); ``next_cursor`` is ``None`` at the end. The server allows pages of up
        to 10,000 points."""
        limit = _scroll_args(limit, cursor)
        vec, meta = _include(include)
        body: dict[str, Any] = {"limit": limit, "include": _include_list(include)}
        if cursor:
            body["cursor"] = cursor
        w = _where_object(where)
        if w is not None:
            body["where"] = w
        page = self._call("POST", "/scroll", body, idempotent=True)
        return ScrollPage([_point(p, vec, meta) for p in page["points"]], page.get("next_cursor") or None)

    # -- payload indexes

    def create_payload_index(self, field: str, type: str) -> None:
        """Indexes metadata field ``field`` for values of ``type`` (``"keyword"``,
        ``"integer"``, ``"float"``, ``"bool"``). Raises :class:`AlreadyExistsError`."""
        self._call("POST", "/indexes", {"field": field, "type": type}, idempotent=False)

    def drop_payload_index(self, field: str) -> None:
        """Removes the payload index on ``field``. Raises :class:`NotFoundError`."""
        if not isinstance(field, str):
            raise TypeError(f"field must be str, not {type(field).__name__}")
        self._call("DELETE", f"/indexes/{_q(field)}", idempotent=False)

    def list_payload_indexes(self) -> dict[str, str]:
        """``{field: type}`` for every payload index."""
        return {i["field"]: i["type"] for i in self._call("GET", "/indexes", idempotent=True)["indexes"]}

    # -- maintenance

    def stats(self) -> CollectionStats:
        """Point count, index memory, disk use, deleted slots and index kind."""
        return CollectionStats(**self._call("GET", "", idempotent=True)["stats"])


# ---------------------------------------------------------------------------------------
# Client


class Client:
    """A server's collections: the methods of :class:`vectron.Database`, over HTTP. Create
    with :func:`connect`. A context manager; :meth:`close` closes the idle connections
    (calls after it raise :class:`DatabaseClosedError`). Thread-safe.
    """

    __slots__ = ("_t", "__weakref__")

    def __init__(self, transport: "_http.Transport") -> None:
        self._t = transport

    @property
    def url(self) -> str:
        """The server's URL."""
        return self._t.url

    @property
    def token(self) -> "str | None":
        """The token sent with every request (settable)."""
        return self._t.token

    @token.setter
    def token(self, value: "str | None") -> None:
        self._t.token = value

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._t.closed

    def close(self) -> None:
        """Closes the pooled connections. Idempotent."""
        self._t.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vectron.Client {self.url!r}{' closed' if self.closed else ''}>"

    # -- collections

    def _create(self, name: str, args: tuple, metadata: Any = None) -> RemoteCollection:
        _name(name)
        meta = _json_object(metadata, "metadata")
        dim, metric, m, efc, efs, seed, shards, flat_max, ckpt, quantization = args
        body = {"name": name, "dim": dim, "metric": metric,
                "hnsw": {"m": m, "ef_construction": efc, "ef_search": efs, "seed": seed},
                "shards": shards, "flat_max_points": flat_max, "checkpoint_every_ops": ckpt,
                "quantization": quantization}
        if meta is not None:
            body["metadata"] = _json.loads(meta)
        answer = self._t.call("POST", "/v1/collections", body, idempotent=False)
        return RemoteCollection(self, answer["name"], answer["config"])

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
    ) -> RemoteCollection:
        """Creates a collection (arguments as :meth:`vectron.Database.create_collection`;
        the token needs the ``admin`` scope). Raises :class:`InvalidArgumentError` or
        :class:`AlreadyExistsError`."""
        args = _collection_args(dim, metric, m, ef_construction, ef_search, seed, shards, flat_max_points,
                                checkpoint_every_ops, quantization)
        return self._create(name, args, metadata)

    def get_collection(self, name: str) -> RemoteCollection:
        """The collection ``name``. Raises :class:`NotFoundError` (a KeyError)."""
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        answer = self._t.call("GET", f"/v1/collections/{_q(name)}", idempotent=True)
        return RemoteCollection(self, answer["name"], answer["config"])

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
    ) -> RemoteCollection:
        """The existing collection ``name`` (which must have the same ``dim`` and
        ``metric``, else :class:`FailedPreconditionError`) or a new one."""
        args = _collection_args(dim, metric, m, ef_construction, ef_search, seed, shards, flat_max_points,
                                checkpoint_every_ops, quantization)
        try:
            return self._create(name, args, metadata)
        except AlreadyExistsError:
            pass
        col = self.get_collection(name)
        if col.dim != args[0] or col.metric != args[1]:
            raise FailedPreconditionError(
                f'collection "{name}" exists with dim {col.dim} and metric {col.metric}')
        return col

    def list_collections(self) -> list[str]:
        """Names of every collection the token may see, sorted."""
        return sorted(c["name"] for c in self._t.call("GET", "/v1/collections", idempotent=True)["collections"])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.list_collections()

    def rename_collection(self, old: str, new: str) -> None:
        """Renames collection ``old`` to ``new`` (the token needs ``admin`` on both).
        Raises :class:`NotFoundError` or :class:`AlreadyExistsError`."""
        _name(old)
        _name(new)
        self._t.call("POST", f"/v1/collections/{_q(old)}/rename", {"name": new}, idempotent=False)

    def drop_collection(self, name: str) -> None:
        """Deletes the collection and its files on the server. Raises :class:`NotFoundError`."""
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        self._t.call("DELETE", f"/v1/collections/{_q(name)}", idempotent=False)

    # -- login and keys (for tools; docs/auth.md)

    def login(self, username: str, password: str) -> str:
        """Logs in and uses the login token for the calls that follow (key management,
        reading the catalog); returns it. Raises :class:`UnauthenticatedError` for a bad
        password, :class:`RateLimitedError` after too many failures."""
        # Retried like a read: a refused login (429) did nothing, a repeated one only
        # issues another token.
        answer = self._t.call("POST", "/v1/auth/login", {"username": username, "password": password},
                              idempotent=True)
        self._t.token = answer["token"]
        return answer["token"]

    def refresh(self) -> str:
        """A fresh login token for the current one (which must be a login token); used from
        now on and returned."""
        self._t.token = self._t.call("POST", "/v1/auth/refresh", {}, idempotent=True)["token"]
        return self._t.token

    def me(self) -> dict[str, Any]:
        """``{"user", "role", "auth_time"}`` of the current login token."""
        return self._t.call("GET", "/v1/auth/me", idempotent=True)

    def create_key(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        collections: "Sequence[str] | None" = None,
        expires_in: "int | None" = None,
    ) -> ApiKey:
        """Creates an API key (needs a login token): ``scopes`` among ``"read"``,
        ``"write"``, ``"admin"``; ``collections`` an allow-list (``None`` = all);
        ``expires_in`` seconds (``None`` = never). Its ``token`` is shown only now."""
        if isinstance(scopes, str):
            scopes = [scopes]
        body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if collections is not None:
            body["collections"] = [collections] if isinstance(collections, str) else list(collections)
        if expires_in is not None:
            body["expires_in"] = _int(expires_in, "expires_in", 1, 2**63 - 1)
        a = self._t.call("POST", "/v1/keys", body, idempotent=False)
        return ApiKey(a["key_id"], a["token"], a["name"], list(a["scopes"]), a.get("expires_at"))

    def list_keys(self) -> list[dict[str, Any]]:
        """The keys the current user may see (never their tokens)."""
        return list(self._t.call("GET", "/v1/keys", idempotent=True)["keys"])

    def revoke_key(self, key_id: str) -> None:
        """Revokes a key: its token is refused from the next request on."""
        if not isinstance(key_id, str):
            raise TypeError(f"key_id must be str, not {type(key_id).__name__}")
        # Revoking a revoked key changes nothing: safe to retry.
        self._t.call("DELETE", f"/v1/keys/{_q(key_id)}", idempotent=True)

    def health(self) -> bool:
        """Whether the server answers ``/readyz`` with 200 (False while it shuts down).
        Raises :class:`ConnectionFailedError` if it cannot be reached."""
        try:
            self._t.call("GET", "/readyz", idempotent=False)
        except UnavailableError as e:
            if e.http_status == 503:
                return False
            raise
        return True


def connect(
    url: str,
    *,
    token: "str | None" = None,
    ca: "str | Any | None" = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.1,
    backoff_max: float = 5.0,
    pool_size: int = 8,
    on_retry: "Callable[[int, float, Exception], None] | None" = None,
) -> Client:
    """A client of the server at ``url`` (``https://host:7700``, or ``http://`` for a
    server started with ``--insecure-http``), with the collection API of
    :func:`vectron.open`.

    ``token``: an SDK token (an API key's, see docs/auth.md; or set later with
    :meth:`Client.login`). ``ca``: PEM file of the CA to trust, e.g. the server's
    self-signed ``DB/tls/cert.pem`` (``None`` = the system's trust store; an
    ``ssl.SSLContext`` is used as given). ``timeout``: one deadline in seconds for each
    call, its retries and waits included (past it :class:`DeadlineExceededError`).
    ``retries``: extra attempts of idempotent calls (reads, upserts, deletes by id, login,
    key revocation) after a connection error, a 429 or a 503, each after a wait drawn from
    [d/2, d] with d = ``min(backoff_max, backoff * 2**n)``, or after the answer's
    ``Retry-After`` plus up to d/2; a wait that would pass the deadline raises at once.
    ``on_retry(attempt, delay, error)`` is told of each retry. ``pool_size``: idle
    connections kept open (docs/clients.md: the policy every client follows).

    Nothing is sent until the first call; an unreachable server then raises
    :class:`ConnectionFailedError`.
    """
    from . import __version__

    return Client(_http.Transport(url, token=token, ca=ca, timeout=timeout, retries=retries, backoff=backoff,
                                  backoff_max=backoff_max, pool_size=pool_size, on_retry=on_retry,
                                  user_agent=f"vectron-python/{__version__}"))
