"""What the embedded (:func:`vectron.open`) and remote (:func:`vectron.connect`) APIs
share: the value types they return, the engine's defaults, and the normalisation of
arguments, so both name bad input the same way."""

from __future__ import annotations

import json as _json
import uuid as _uuid
from dataclasses import dataclass
from typing import AbstractSet, Any, Iterable, Iterator, Mapping

import numpy as _np

from . import _vectron
from .errors import InvalidArgumentError, NotFoundError

_INCLUDE_NAMES = {
    "vector": "vector",
    "vectors": "vector",
    "embedding": "vector",
    "embeddings": "vector",
    "metadata": "metadata",
    "metadatas": "metadata",
}


# ---------------------------------------------------------------------------------------
# Value types


def _short_repr(vector: Any, metadata: Any) -> str:
    out = ""
    if vector is not None:
        v = _np.asarray(vector)
        out += f", vector=<{v.dtype}[{', '.join(map(str, v.shape))}]>"
    if metadata is not None:
        m = repr(metadata)
        out += f", metadata={m if len(m) <= 80 else m[:77] + '...'}"
    return out


def _same_vector(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(_np.array_equal(a, b))


@dataclass(slots=True, eq=False, repr=False)
class Hit:
    """One search result: ``score`` is a distance (lower is nearer).

    ``vector`` (a float32 numpy array) and ``metadata`` (a dict) are ``None`` unless
    asked for with ``include=``; ``metadata`` is also ``None`` for a point stored
    without metadata.
    """

    id: str
    score: float
    vector: "_np.ndarray | None" = None
    metadata: "dict[str, Any] | None" = None

    # Hashable (by id and score) and comparable; the repr shows a vector's shape, not
    # its numbers.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return (self.id, self.score, self.metadata) == (other.id, other.score, other.metadata) and \
            _same_vector(self.vector, other.vector)

    def __hash__(self) -> int:
        return hash((self.id, self.score))

    def __repr__(self) -> str:
        return f"Hit(id={self.id!r}, score={self.score:.6g}{_short_repr(self.vector, self.metadata)})"


@dataclass(slots=True, eq=False, repr=False)
class Point:
    """A stored point. ``vector``/``metadata`` are ``None`` when not included.
    Hashable (by id); the repr shows a vector's shape, not its numbers."""

    id: str
    vector: "_np.ndarray | None" = None
    metadata: "dict[str, Any] | None" = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return (self.id, self.metadata) == (other.id, other.metadata) and _same_vector(self.vector, other.vector)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Point(id={self.id!r}{_short_repr(self.vector, self.metadata)})"


@dataclass(slots=True)
class ScrollPage:
    """A page of :meth:`Collection.scroll`: points in id order (bytewise) and the cursor
    for the next page (``None`` at the end)."""

    points: list[Point]
    next_cursor: "str | None"


@dataclass(frozen=True, slots=True)
class CollectionStats:
    """Sizes of a collection, from :meth:`Collection.stats`."""

    count: int                #: live points
    index_memory_bytes: int   #: in-memory index size, all shards
    disk_bytes: int           #: LMDB data plus saved index files
    deleted_slots: int        #: index slots of deleted or replaced points, until a compaction
    index_kind: str           #: "flat", "hnsw", or "mixed" across shards


# ---------------------------------------------------------------------------------------
# Argument normalisation (one place, so every call names bad input the same way)


def _utf8(strings: "list[str]", what: str) -> None:
    """Raises InvalidArgumentError naming the first string that cannot be UTF-8 (a lone
    surrogate such as ``"\\udcff"``, which ``os.fsdecode`` makes of undecodable bytes)."""
    try:
        "".join(strings).encode("utf-8")
        return
    except UnicodeEncodeError:
        pass
    for i, x in enumerate(strings):
        try:
            x.encode("utf-8")
        except UnicodeEncodeError as e:
            name = what if len(strings) == 1 else f"{what}[{i}]"
            raise InvalidArgumentError(
                f"{name} is not valid Unicode text: lone surrogate {x[e.start]!r} at position {e.start}") from None


def _name(name: Any) -> str:
    """A collection name as given (the engine checks its characters)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    _utf8([name], "name")
    return name


def _single_id(ids: Any) -> bool:
    """Whether `ids` is one id (str, int or uuid.UUID) rather than a sequence of them."""
    return isinstance(ids, (str, _uuid.UUID)) or (isinstance(ids, (int, _np.integer)) and not isinstance(ids, bool))


def _id_text(x: Any, what: str) -> str:
    """An id as stored: a str as given, an int as its decimal text, a UUID in its
    canonical form (lower-case, hyphenated)."""
    if isinstance(x, str):
        return x
    if isinstance(x, _uuid.UUID):
        return str(x)
    if isinstance(x, (int, _np.integer)) and not isinstance(x, bool):
        return str(int(x))
    raise TypeError(f"{what} must be str, int or uuid.UUID, not {type(x).__name__}")


def _ids(ids: "str | Iterable[str]", what: str = "ids") -> list[str]:
    if _single_id(ids):
        out = [_id_text(ids, what)]
    elif isinstance(ids, (bytes, bytearray)):
        raise TypeError(f"{what} must be str (or a sequence of str), not bytes")
    elif isinstance(ids, (AbstractSet, Mapping)):
        # Their order is arbitrary: vectors and metadata would be paired with the wrong ids.
        raise TypeError(f"{what} must be an ordered sequence of str (a list or tuple), not "
                        f"{type(ids).__name__}, whose order is arbitrary")
    else:
        try:
            out = list(ids)
        except TypeError:
            raise TypeError(f"{what} must be an id (str, int, uuid.UUID) or a sequence of them, not "
                            f"{type(ids).__name__}") from None
        out = [x if isinstance(x, str) else _id_text(x, f"{what}[{i}]") for i, x in enumerate(out)]
    _utf8(out, what)
    return out


def _floats(x: Any, what: str) -> _np.ndarray:
    """float32, C-contiguous; no copy when `x` already is one."""
    if isinstance(x, _np.ndarray) and x.dtype == _np.float32 and x.flags.c_contiguous:
        return x
    try:
        a = _np.asarray(x)
        if a.dtype.kind not in "fiu":  # complex would lose its imaginary part, bool mean 0/1
            if a.dtype.kind == "O" or a.size == 0:
                a = _np.asarray(x, dtype=_np.float32)
            else:
                raise InvalidArgumentError(f"{what} must be real numbers, got an array of {a.dtype}")
        a = a.astype(_np.float32, copy=False)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{what} must be numbers convertible to float32: {e}") from None
    return _np.ascontiguousarray(a)


#: Nesting levels a metadata object or a ``where`` dict may have in Python (JSON
#: encoding recurses; deeper input would raise RecursionError).
_MAX_JSON_DEPTH = 128  # The engine's limit (kMaxJsonNesting) for metadata and filters.
#: Integers JSON metadata can hold exactly (int64 and uint64); others would become floats.
_JSON_INT_MIN, _JSON_INT_MAX = -(2**63), 2**64 - 1


def _check_json_tree(root: Any, what: str) -> None:
    """Checks what JSON encoding would not: nesting depth and integer range. Iterative,
    so no input can exhaust the stack."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_JSON_DEPTH:
            raise InvalidArgumentError(f"{what} nests deeper than {_MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key in node:
                if not isinstance(key, str):  # json.dumps would turn 1 into "1" silently
                    raise InvalidArgumentError(f"{what} has the key {key!r} of type {type(key).__name__}: "
                                               f"keys must be str")
            values = node.values()
        else:
            values = node
        for v in values:
            if isinstance(v, (str, float, bool)) or v is None:
                continue
            if isinstance(v, int):
                if not _JSON_INT_MIN <= v <= _JSON_INT_MAX:
                    raise InvalidArgumentError(
                        f"{what} holds the integer {_short_int(v)}, outside the range JSON metadata stores "
                        f"exactly (-2**63 .. 2**64-1): store it as a str or float")
            elif isinstance(v, (dict, list, tuple)):
                stack.append((v, depth + 1))


def _short_int(v: int) -> str:
    digits = len(str(abs(v))) if v.bit_length() < 4000 else None
    if digits is not None and digits <= 30:
        return str(v)
    return f"of {digits} digits" if digits else f"of {v.bit_length()} bits"


def _json_text(value: Any, what: str) -> str:
    _check_json_tree(value, what)
    try:
        text = _json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{what} is not JSON-serialisable: {e}") from None
    _utf8([text], what)
    return text


def _json_object(m: Any, what: str) -> "str | None":
    if m is None:
        return None
    if not isinstance(m, Mapping):
        raise InvalidArgumentError(f"{what} must be a dict or None, not {type(m).__name__}")
    return _json_text(m, what)


def _where(where: "Mapping[str, Any] | str | None") -> str:
    if where is None:
        return ""
    if isinstance(where, str):
        if not where.strip():
            raise InvalidArgumentError("where must be a non-empty filter (dict or JSON text), got an empty string")
        if not where.lstrip().startswith("{"):  # "null", "[]", "1": not a filter
            raise InvalidArgumentError(f"where must be a filter: a JSON object, got {where[:40]!r}")
        _utf8([where], "where")
        return where
    if isinstance(where, Mapping):
        return _json_text(where, "where")
    raise InvalidArgumentError(f"where must be a dict, JSON text or None, not {type(where).__name__}")


def _include(include: "str | Iterable[str] | None") -> tuple[bool, bool]:
    if include is None:
        return False, False
    if isinstance(include, str):
        include = (include,)
    vec = meta = False
    for name in include:
        kind = _INCLUDE_NAMES.get(name) if isinstance(name, str) else None
        if kind is None:
            raise InvalidArgumentError(f"include: unknown field {name!r} (expected 'vector' and/or 'metadata')")
        vec |= kind == "vector"
        meta |= kind == "metadata"
    return vec, meta


def _int(x: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, _np.integer)):
        raise TypeError(f"{what} must be an int, not {type(x).__name__}")
    x = int(x)
    if x < lo or x > hi:
        raise InvalidArgumentError(f"{what} must be in [{lo}, {hi}], got {x}")
    return x


def _meta(text: "str | None") -> "dict[str, Any] | None":
    return _json.loads(text) if text else None


#: get()'s default include (compared by identity: format="chroma" has its own default).
_GET_INCLUDE = ("vector", "metadata")

# The engine's defaults (CollectionConfig, DatabaseOptions, SearchParams), never re-typed.
_CFG: dict = dict(_vectron.COLLECTION_DEFAULTS)
_DB: dict = dict(_vectron.DATABASE_DEFAULTS)
_SEARCH: dict = dict(_vectron.SEARCH_DEFAULTS)

_INT_MAX = 2**31 - 1
_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1


def _collection_args(dim: int, metric: str, m: int, ef_construction: int, ef_search: int, seed: int,
                     shards: int, flat_max_points: int, checkpoint_every_ops: int,
                     quantization: str = "none") -> tuple:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be str, not {type(metric).__name__}")
    if not isinstance(quantization, str):
        raise TypeError(f"quantization must be str, not {type(quantization).__name__}")
    if quantization not in ("none", "sq8"):
        raise InvalidArgumentError(f"quantization must be 'none' or 'sq8', got {quantization[:40]!r}")
    return (
        _int(dim, "dim", 0, _U32_MAX),
        metric,
        _int(m, "m", 0, _U32_MAX),
        _int(ef_construction, "ef_construction", 0, _U32_MAX),
        _int(ef_search, "ef_search", 0, _U32_MAX),
        _int(seed, "seed", 0, _U64_MAX),
        _int(shards, "shards", 0, _U32_MAX),
        _int(flat_max_points, "flat_max_points", 0, _U64_MAX),
        _int(checkpoint_every_ops, "checkpoint_every_ops", 0, _U64_MAX),
        quantization,
    )


def _upsert_args(ids: Any, vectors: Any, metadata: Any, dim: int) -> tuple[list[str], _np.ndarray, "list[str | None]"]:
    """(ids, float32 (n, dim) C-contiguous vectors, metadata JSON texts or None; [] for
    no metadata) of an upsert call. Raises InvalidArgumentError / TypeError."""
    single = _single_id(ids)
    id_list = _ids(ids)
    vecs = _floats(vectors, "vectors")
    if single and vecs.ndim == 1:
        vecs = vecs.reshape(1, -1)
    # (An empty batch of the wrong width is refused too, though it would write nothing.)
    if vecs.ndim != 2 or (vecs.shape[1] != dim and vecs.shape[0] == 0):
        raise InvalidArgumentError(
            f"vectors must have shape (n, dim) = ({len(id_list)}, {dim}), got shape {vecs.shape}")
    metas: list[str | None] = []
    if metadata is not None:
        if single and (isinstance(metadata, Mapping)):
            metadata = [metadata]
        if isinstance(metadata, (str, bytes, Mapping)) or not isinstance(metadata, Iterable):
            raise InvalidArgumentError(
                f"metadata must be a sequence of dicts (one per id), not {type(metadata).__name__}")
        metadata = list(metadata)
        if len(metadata) != len(id_list):
            raise InvalidArgumentError(f"got {len(id_list)} ids but {len(metadata)} metadata entries")
        metas = [_json_object(m, f"metadata[{i}]") for i, m in enumerate(metadata)]
    return id_list, vecs, metas


def _search_args(k: Any, ef: Any, threads: Any, where: Any, filter_strategy: Any) -> tuple[int, int, int, str]:
    """(k, ef (0 = the collection's), threads, where JSON text) of a search call."""
    k = _int(k, "k", 1, _INT_MAX)
    ef_v = 0 if ef is None else _int(ef, "ef", 0, _INT_MAX)
    threads = _int(threads, "threads", 0, 1 << 16)
    w = _where(where)
    if not isinstance(filter_strategy, str):
        raise TypeError(f"filter_strategy must be str, not {type(filter_strategy).__name__}")
    return k, ef_v, threads, w


def _config_dict(config: Mapping[str, Any]) -> dict[str, Any]:
    """A collection config as the API shows it (flat), from the catalog's JSON form
    (``{"dim", "metric", "hnsw": {...}, ...}``)."""
    h = config.get("hnsw", {})
    return {"dim": config["dim"], "metric": config["metric"], "m": h["m"], "ef_construction": h["ef_construction"],
            "ef_search": h["ef_search"], "seed": h["seed"], "shards": config["shards"],
            "flat_max_points": config["flat_max_points"], "checkpoint_every_ops": config["checkpoint_every_ops"],
            "quantization": config.get("quantization", "none")}


def _scroll_args(limit: Any, cursor: Any) -> int:
    """The page size of a scroll call, checked with its cursor."""
    limit = _int(limit, "limit", 1, 100000)
    if cursor is not None and not isinstance(cursor, str):
        raise TypeError(f"cursor must be str or None, not {type(cursor).__name__}")
    return limit


class _CollectionMixin:
    """What a collection derives from its primitives (``get``, ``count``, ``scroll``),
    the same for the embedded :class:`vectron.Collection` and the remote
    :class:`vectron.RemoteCollection`."""

    __slots__ = ()

    def __getitem__(self, id: str) -> Point:
        """The point ``id`` with vector and metadata. Raises :class:`NotFoundError`."""
        if not _single_id(id):
            raise TypeError(f"id must be str, int or uuid.UUID, not {type(id).__name__}")
        p = self.get(id)
        if p is None:
            raise NotFoundError(f"id '{id}' not found in collection '{self.name}'")
        return p

    def __contains__(self, id: object) -> bool:
        """Whether a point with this id exists."""
        if not _single_id(id):
            return False
        return self.get(id, include=None) is not None

    def __len__(self) -> int:
        return self.count()

    def __bool__(self) -> bool:
        """Always true: a collection is a handle, so ``if col:`` does not ask whether it
        is empty (use ``len(col)`` or ``col.count()`` for that)."""
        return True

    def iter_points(
        self,
        batch: int = 1000,
        *,
        where: "Mapping[str, Any] | str | None" = None,
        include: "str | Iterable[str] | None" = ("vector", "metadata"),
    ) -> Iterator[Point]:
        """Every point (or every point matching ``where``) in id order, fetched
        ``batch`` at a time with :meth:`scroll`."""
        cursor = None
        while True:
            page = self.scroll(batch, cursor, where=where, include=include)
            yield from page.points
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[Point]:
        return self.iter_points()
