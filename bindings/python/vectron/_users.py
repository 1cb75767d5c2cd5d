"""What users coming from Chroma and Qdrant reach for first, the same for the embedded
:class:`vectron.Collection` and the remote :class:`vectron.RemoteCollection`: partial
updates, ``get(where=, limit=, offset=)`` and ``peek()``, Chroma's keyword names and
result arrays, and ``to_pandas()`` / ``to_arrow()`` (docs/python.md, "Coming from
Chroma / Qdrant").

Each class supplies two primitives: ``_update(op, ids, vectors, metadata_texts)`` (an
atomic batch of partial updates) and ``_list(where, limit, offset, include_vector,
include_metadata)`` (one page of Collection::List, at most 10,000 points)."""

from __future__ import annotations

import uuid as _uuid
from typing import Any, Iterable, Mapping, Sequence

import numpy as _np

from ._common import _GET_INCLUDE, Hit, Point, _floats, _ids, _include, _int, _json_object, _single_id, _where
from .errors import InvalidArgumentError

#: WriteBatch::Op values of the partial updates.
_SET_METADATA, _MERGE_METADATA, _UPDATE_VECTOR = 3, 4, 5
#: The largest page the engine returns at once (kMaxListLimit).
_LIST_PAGE = 10000
#: Chroma's include names (and ours) → ("vector" | "metadata" | "distance" | None to ignore).
_CHROMA_INCLUDE = {"embeddings": "vector", "embedding": "vector", "vector": "vector", "vectors": "vector",
                   "metadatas": "metadata", "metadata": "metadata", "distances": "distance", "documents": None,
                   "uris": None, "data": None}


def _pick(ours: Any, theirs: Any, our_name: str, their_name: str) -> Any:
    """One of two names for the same argument (ours, or Chroma's); both is an error."""
    if ours is not None and theirs is not None:
        raise InvalidArgumentError(f"give {our_name}= or {their_name}=, not both")
    return ours if ours is not None else theirs


def _chroma_names(vectors: Any, embeddings: Any, metadata: Any, metadatas: Any) -> tuple[Any, Any]:
    """(vectors, metadata) given by our names or Chroma's (embeddings=, metadatas=)."""
    vectors = _pick(vectors, embeddings, "vectors", "embeddings")
    if vectors is None:
        raise InvalidArgumentError("vectors (or embeddings=) are required")
    return vectors, _pick(metadata, metadatas, "metadata", "metadatas")


def _chroma_include(include: "Iterable[str] | None", default: Sequence[str]) -> tuple[bool, bool, bool]:
    """(vector, metadata, distance) of a Chroma-style include list."""
    names = default if include is None else ([include] if isinstance(include, str) else list(include))
    got = set()
    for n in names:
        if not isinstance(n, str) or n not in _CHROMA_INCLUDE:
            raise InvalidArgumentError(f"include: unknown field {n!r} (expected 'embeddings', 'metadatas', 'distances')")
        if _CHROMA_INCLUDE[n]:
            got.add(_CHROMA_INCLUDE[n])
    return "vector" in got, "metadata" in got, "distance" in got


def _metadata_texts(ids: list[str], metadata: Any, what: str) -> list[str]:
    """One JSON-object text per id ("" for None): a dict (for every id) or a sequence."""
    if isinstance(metadata, Mapping) or metadata is None:
        text = _json_object(metadata, what) or ""
        return [text] * len(ids)
    if isinstance(metadata, (str, bytes)) or not isinstance(metadata, Iterable):
        raise InvalidArgumentError(f"{what} must be a dict or a sequence of dicts, not {type(metadata).__name__}")
    metadata = list(metadata)
    if len(metadata) != len(ids):
        raise InvalidArgumentError(f"got {len(ids)} ids but {len(metadata)} {what} entries")
    return [_json_object(m, f"{what}[{i}]") or "" for i, m in enumerate(metadata)]


def _trim(hits: list[Hit], offset: int, score_threshold: "float | None") -> list[Hit]:
    hits = hits[offset:]
    if score_threshold is not None:
        hits = [h for h in hits if h.score <= score_threshold]
    return hits


def _search_extra(offset: Any, score_threshold: Any) -> tuple[int, "float | None"]:
    offset = _int(offset, "offset", 0, 100000)
    if score_threshold is not None:
        if isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float, _np.floating, _np.integer)):
            raise TypeError(f"score_threshold must be a number, not {type(score_threshold).__name__}")
        score_threshold = float(score_threshold)
        if score_threshold != score_threshold:
            raise InvalidArgumentError("score_threshold is NaN")
    return offset, score_threshold


class _UsersMixin:
    __slots__ = ()

    # -- partial updates

    def update_metadata(self, ids: Any, metadata: Any, *, merge: bool = True) -> None:
        """Sets the metadata of existing points, keeping their vectors; atomic.

        ``metadata``: one dict for every id, or one dict (or ``None``) per id. With
        ``merge=True`` (the default) it is merged into the stored object (RFC 7396:
        keys set, nested objects merged, a ``None`` value removes the key); with
        ``merge=False`` it replaces it (``None`` clears it). Raises
        :class:`NotFoundError` naming a missing id (nothing is written then)."""
        id_list = _ids(ids)
        texts = _metadata_texts(id_list, metadata, "metadata")
        if id_list:
            self._update(_MERGE_METADATA if merge else _SET_METADATA, id_list, None, texts)

    def update_vectors(self, ids: Any, vectors: Any) -> None:
        """Replaces the vectors of existing points, keeping their metadata; atomic.
        Raises :class:`NotFoundError` naming a missing id (nothing is written then)."""
        single = _single_id(ids)
        id_list = _ids(ids)
        vecs = _floats(vectors, "vectors")
        if single and vecs.ndim == 1:
            vecs = vecs.reshape(1, -1)
        if vecs.ndim != 2 or vecs.shape[0] != len(id_list) or vecs.shape[1] != self.dim:
            raise InvalidArgumentError(f"vectors must have shape ({len(id_list)}, {self.dim}), got shape {vecs.shape}")
        if id_list:
            self._update(_UPDATE_VECTOR, id_list, vecs, [])

    def update(self, ids: Any, embeddings: Any = None, metadatas: Any = None, *, vectors: Any = None,
               metadata: Any = None) -> None:
        """Chroma's ``update``: new vectors and/or metadata (merged) for existing ids.
        With both, the vectors are written first, then the metadata (two atomic steps;
        both are checked before either is written)."""
        vecs = _pick(vectors, embeddings, "vectors", "embeddings")
        meta = _pick(metadata, metadatas, "metadata", "metadatas")
        id_list = _ids(ids)
        if meta is not None:
            _metadata_texts(id_list, meta, "metadatas")  # checked before anything is written
        if vecs is not None:
            self.update_vectors(id_list, vecs)
        if meta is not None:
            self.update_metadata(id_list, meta, merge=True)

    # -- reads

    #: Returned by _get_forms when the call is a plain get by ids.
    _BY_IDS = object()

    def _get_forms(self, ids: Any, include: Any, where: Any, limit: Any, offset: Any, format: str) -> Any:
        """get()'s other forms (format="chroma", or where/limit/offset without ids), or
        _BY_IDS when the call is a get by ids, for the class to do."""
        if format == "chroma":
            return self._chroma_get(ids, where, limit, offset, None if include is _GET_INCLUDE else include)
        if format != "points":
            raise InvalidArgumentError(f"format must be 'points' or 'chroma', got {format!r}")
        if ids is None:
            iv, im = _include(include)
            return self._get_where(where, limit, offset, iv, im)
        if where is not None or limit is not None or offset is not None:
            raise InvalidArgumentError("get: give ids, or where= / limit= / offset=, not both")
        return self._BY_IDS

    def _search_paged(self, query: Any, k: int, offset: Any, score_threshold: Any, as_numpy: bool,
                      **kw: Any) -> Any:
        """search() with offset / score_threshold: the first k + offset hits, trimmed;
        None when neither is given (the class searches itself)."""
        offset, score_threshold = _search_extra(offset, score_threshold)
        if not offset and score_threshold is None:
            return None
        if as_numpy:
            raise InvalidArgumentError("offset and score_threshold are not available with as_numpy=True")
        got = self.search(query, k + offset, **kw)
        if got and isinstance(got[0], list):
            return [_trim(r, offset, score_threshold) for r in got]
        return _trim(got, offset, score_threshold)

    def _get_where(self, where: Any, limit: Any, offset: Any, iv: bool, im: bool) -> list[Point]:
        w = _where(where)
        offset = _int(0 if offset is None else offset, "offset", 0, 2**63 - 1)
        if limit is not None:
            return self._list(w, _int(limit, "limit", 1, _LIST_PAGE), offset, iv, im)
        # Everything after offset: the first page skips it, scroll's cursor pages the rest.
        out = self._list(w, _LIST_PAGE, offset, iv, im)
        if len(out) < _LIST_PAGE:
            return out
        include = (["vector"] if iv else []) + (["metadata"] if im else [])
        cursor = out[-1].id
        while True:
            page = self.scroll(_LIST_PAGE, cursor, where=where, include=include)
            out += page.points
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    def peek(self, limit: int = 10, *, include: Any = ("vector", "metadata")) -> list[Point]:
        """The first ``limit`` points in id order (at most 10,000)."""
        iv, im = _include(include)
        return self._get_where(None, limit, 0, iv, im)

    def _chroma_get(self, ids: Any, where: Any, limit: Any, offset: Any, include: Any) -> dict[str, Any]:
        iv, im, _ = _chroma_include(include, ("metadatas",))
        if ids is not None:
            points = [p for p in self.get(ids, include=(["vector"] if iv else []) + (["metadata"] if im else []))
                      if p is not None]
        else:
            points = self._get_where(where, limit, offset, iv, im)
        if ids is not None and where is not None:
            raise InvalidArgumentError("format='chroma': give ids= or where=, not both")
        return {"ids": [p.id for p in points],
                "embeddings": [p.vector for p in points] if iv else None,
                "metadatas": [p.metadata for p in points] if im else None,
                "include": [n for n, on in (("embeddings", iv), ("metadatas", im)) if on]}

    def query(self, query_embeddings: Any = None, n_results: int = 10, where: Any = None, include: Any = None,
              *, query: Any = None, k: "int | None" = None, **kw: Any) -> Any:
        """Chroma's ``query``: ``query_embeddings`` (one vector or a list of them) and
        ``n_results`` in, a dict of lists out, one inner list per query: ``ids``,
        ``distances``, ``metadatas``, ``embeddings`` (those not included are ``None``;
        ``include`` defaults to ``["metadatas", "distances"]``). Called as
        ``query(vector, k)`` / ``query(query=...)`` (no Chroma keyword) it is
        :meth:`search` and returns hits."""
        if query is not None or k is not None or (query_embeddings is not None and "as_numpy" in kw):
            q = _pick(query, query_embeddings, "query", "query_embeddings")
            return self.search(q, n_results if k is None else k, where=where,
                               include=("metadata",) if include is None else include, **kw)
        if query_embeddings is None:
            raise InvalidArgumentError("query needs query_embeddings= (or query=)")
        iv, im, dist = _chroma_include(include, ("metadatas", "distances"))
        q = _floats(query_embeddings, "query_embeddings")
        rows = self.search(q if q.ndim == 2 else q.reshape(1, -1), n_results, where=where,
                           include=(["vector"] if iv else []) + (["metadata"] if im else []), **kw)
        return {"ids": [[h.id for h in r] for r in rows],
                "distances": [[h.score for h in r] for r in rows] if dist else None,
                "metadatas": [[h.metadata for h in r] for r in rows] if im else None,
                "embeddings": [[h.vector for h in r] for r in rows] if iv else None,
                "include": [n for n, on in (("embeddings", iv), ("metadatas", im), ("distances", dist)) if on]}

    def add(self, ids: Any = None, embeddings: Any = None, metadatas: Any = None, *, vectors: Any = None,
            metadata: Any = None) -> list[str]:
        """Chroma's ``add`` (an upsert): ``ids`` may be omitted, then a random UUID is
        generated for each vector. Returns the ids (as stored: str)."""
        vecs = _pick(vectors, embeddings, "vectors", "embeddings")
        meta = _pick(metadata, metadatas, "metadata", "metadatas")
        if vecs is None:
            raise InvalidArgumentError("add needs vectors= (or embeddings=)")
        if ids is None:
            a = _floats(vecs, "vectors")
            n = 1 if a.ndim == 1 else a.shape[0]
            ids = [str(_uuid.uuid4()) for _ in range(n)]
            if a.ndim == 1:
                vecs = a.reshape(1, -1)
        id_list = _ids(ids)
        if isinstance(meta, Mapping) and not _single_id(ids):
            raise InvalidArgumentError("metadatas must be a sequence of dicts (one per id)")
        self.upsert(ids, vecs, meta)
        return id_list

    # -- the collection itself

    @property
    def metadata(self) -> "dict[str, Any] | None":
        """The JSON object stored with the collection (``None`` for none); see
        :meth:`set_metadata`. Read from the catalog on each access."""
        import json

        text = self._get_collection_metadata()
        return json.loads(text) if text else None

    def set_metadata(self, metadata: "Mapping[str, Any] | None") -> None:
        """Replaces the JSON object stored with the collection (``None`` removes it; at
        most 64 KiB). The engine does not read it."""
        self._set_collection_metadata(_json_object(metadata, "metadata") or "")

    def rename(self, name: str) -> None:
        """Renames the collection (atomic: one catalog transaction). This handle follows
        the new name; other handles to the collection in this process raise
        :class:`NotFoundError` afterwards (get it again by its new name). Raises
        :class:`AlreadyExistsError` if ``name`` is taken."""
        self._rename(name)

    def modify(self, name: "str | None" = None, metadata: "Mapping[str, Any] | None" = None) -> None:
        """Chroma's ``modify``: a new ``metadata`` object (replacing the stored one)
        and/or a new ``name``. The metadata is written first."""
        if metadata is not None:
            self.set_metadata(metadata)
        if name is not None:
            self.rename(name)

    # -- data frames

    def to_arrow(self, where: Any = None, *, include: Any = ("vector", "metadata")) -> Any:
        """Every point (or those matching ``where``) as a ``pyarrow.Table`` with columns
        ``id``, ``vector`` (list<float>) and ``metadata`` (JSON text), in id order.
        Raises ImportError if pyarrow is not installed."""
        import json

        import pyarrow as pa

        iv, im = _include(include)
        points = self._get_where(where, None, 0, iv, im)
        cols: dict[str, Any] = {"id": pa.array([p.id for p in points], pa.string())}
        if iv:
            cols["vector"] = pa.array([p.vector.tolist() for p in points], pa.list_(pa.float32()))
        if im:
            cols["metadata"] = pa.array([None if p.metadata is None else json.dumps(p.metadata) for p in points],
                                        pa.string())
        return pa.table(cols)

    def to_pandas(self, where: Any = None, *, include: Any = ("vector", "metadata")) -> Any:
        """Every point (or those matching ``where``) as a ``pandas.DataFrame`` with
        columns ``id``, ``vector`` (float32 arrays) and ``metadata`` (dicts), in id
        order. Raises ImportError if pandas is not installed."""
        import pandas as pd

        iv, im = _include(include)
        points = self._get_where(where, None, 0, iv, im)
        data: dict[str, Any] = {"id": [p.id for p in points]}
        if iv:
            data["vector"] = [p.vector for p in points]
        if im:
            data["metadata"] = [p.metadata for p in points]
        return pd.DataFrame(data)
