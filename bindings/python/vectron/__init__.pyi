"""Vectron: an embedded vector database, in-process, and a client of its server with the
same API (vectron.connect). See docs/python.md."""

import os
import uuid
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence, overload

import numpy as np
import numpy.typing as npt

from .errors import (
    AbortedError as AbortedError,
    AlreadyExistsError as AlreadyExistsError,
    CancelledError as CancelledError,
    ConnectionFailedError as ConnectionFailedError,
    CorruptionError as CorruptionError,
    DatabaseClosedError as DatabaseClosedError,
    DeadlineExceededError as DeadlineExceededError,
    Error as Error,
    FailedPreconditionError as FailedPreconditionError,
    InternalError as InternalError,
    InvalidArgumentError as InvalidArgumentError,
    NotFoundError as NotFoundError,
    PermissionDeniedError as PermissionDeniedError,
    RateLimitedError as RateLimitedError,
    ResourceExhaustedError as ResourceExhaustedError,
    StorageIOError as StorageIOError,
    UnauthenticatedError as UnauthenticatedError,
    UnavailableError as UnavailableError,
)

__version__: str

Metadata = dict[str, Any]
Where = Mapping[str, Any] | str | None
Include = str | Iterable[str] | None
AnyId = str | int | uuid.UUID
AnyIds = AnyId | Sequence[AnyId]
Ids = AnyIds
VectorLike = npt.ArrayLike
FilterStrategy = Literal["auto", "exact", "graph", "post_filter"]

class Hit:
    """One search result: `score` is a distance (lower is nearer)."""
    id: str
    score: float
    vector: npt.NDArray[np.float32] | None
    metadata: Metadata | None
    def __init__(self, id: str, score: float, vector: npt.NDArray[np.float32] | None = ...,
                 metadata: Metadata | None = ...) -> None: ...
    def __hash__(self) -> int: ...

class Point:
    """A stored point; `vector`/`metadata` are None when not included."""
    id: str
    vector: npt.NDArray[np.float32] | None
    metadata: Metadata | None
    def __init__(self, id: str, vector: npt.NDArray[np.float32] | None = ...,
                 metadata: Metadata | None = ...) -> None: ...
    def __hash__(self) -> int: ...

class ScrollPage:
    """Points in id order and the cursor for the next page (None at the end)."""
    points: list[Point]
    next_cursor: str | None
    def __init__(self, points: list[Point], next_cursor: str | None) -> None: ...

class RerankedHit(Hit):
    """A reranked hit: score stays the distance; relevance (higher is better); components with explain."""
    relevance: float
    components: dict[str, float] | None

class RerankedHits(list[RerankedHit]):
    """The hits of a reranked search and its query_id."""
    query_id: str

class CollectionStats:
    """Sizes of a collection."""
    count: int
    index_memory_bytes: int
    disk_bytes: int
    deleted_slots: int
    index_kind: str

class Collection:
    """A named set of points (id, float32 vector, optional JSON-object metadata). Thread-safe."""
    @property
    def name(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def database(self) -> Database: ...
    def upsert(self, ids: Ids, vectors: VectorLike | None = ...,
               metadata: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = ..., *,
               embeddings: VectorLike | None = ..., metadatas: Any = ...) -> None:
        """Inserts or replaces points atomically; durable when it returns."""
    def delete(self, ids: Ids | None = ..., where: Where = ...) -> int | None:
        """Deletes by ids (returns None) or by filter (returns the count deleted)."""
    @overload
    def search(self, query: VectorLike, k: int = ..., *, where: Where = ..., ef: int | None = ...,
               exact: bool = ..., include: Include = ..., as_numpy: Literal[False] = ...,
               threads: int = ..., filter_strategy: FilterStrategy = ..., offset: int = ...,
               score_threshold: float | None = ..., rerank: Mapping[str, Any] | str | None = ...,
               explain: bool = ...) -> list[Hit] | list[list[Hit]] | RerankedHits:
        """The k nearest points: list[Hit] for one query, list[list[Hit]] for a 2-D batch;
        RerankedHits (with query_id) with rerank= or explain=True (docs/rerank.md)."""
    @overload
    def search(self, query: VectorLike, k: int = ..., *, where: Where = ..., ef: int | None = ...,
               exact: bool = ..., include: Include = ..., as_numpy: Literal[True],
               threads: int = ..., filter_strategy: FilterStrategy = ...
               ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float32]]:
        """(ids, scores) numpy arrays of shape (m,) or (n, m), m = the most hits of any row (<= k)."""
    def feedback(self, point_id: str, rating: int, *, query_id: str | None = ..., comment: str | None = ...) -> None:
        """Rates a point 1-5, durably; ratings go with their point."""
    def feedback_stats(self, point_id: str) -> dict[str, Any]:
        """{"count", "mean", "histogram"} of a point's ratings."""
    def export_feedback(self) -> list[dict[str, Any]]:
        """Every rating."""
    def export_feedback_page(self, limit: int = ..., cursor: str | None = ...
                             ) -> tuple[list[dict[str, Any]], str | None]:
        """(up to `limit` ratings after `cursor`, the next page's cursor or None)."""
    def set_default_rerank(self, pipeline: Mapping[str, Any] | None) -> None:
        """Stores (None removes) the default rerank pipeline."""
    def default_rerank(self) -> dict[str, Any] | None:
        """The stored default rerank pipeline."""
    def update_metadata(self, ids: AnyIds, metadata: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None,
                        *, merge: bool = ...) -> None:
        """Sets (merge=False) or merges (RFC 7396) the metadata of existing points, keeping their vectors."""
    def update_vectors(self, ids: AnyIds, vectors: VectorLike) -> None:
        """Replaces the vectors of existing points, keeping their metadata."""
    def update(self, ids: AnyIds, embeddings: VectorLike | None = ..., metadatas: Any = ..., *,
               vectors: VectorLike | None = ..., metadata: Any = ...) -> None:
        """Chroma's update: new vectors and/or merged metadata."""
    def peek(self, limit: int = ..., *, include: Include = ...) -> list[Point]:
        """The first points in id order."""
    def to_pandas(self, where: Where = ..., *, include: Include = ...) -> Any:
        """A pandas.DataFrame (id, vector, metadata)."""
    def to_arrow(self, where: Where = ..., *, include: Include = ...) -> Any:
        """A pyarrow.Table (id, vector, metadata as JSON text)."""
    @property
    def metadata(self) -> Metadata | None:
        """The JSON object stored with the collection."""
    def set_metadata(self, metadata: Mapping[str, Any] | None) -> None:
        """Replaces the collection's metadata (None removes it)."""
    def rename(self, name: str) -> None:
        """Renames the collection; this handle follows the new name."""
    def modify(self, name: str | None = ..., metadata: Mapping[str, Any] | None = ...) -> None:
        """Chroma's modify: new metadata and/or name."""
    def add(self, ids: AnyIds | None = ..., embeddings: VectorLike | None = ..., metadatas: Any = ..., *,
            vectors: VectorLike | None = ..., metadata: Any = ...) -> list[str]:
        """An upsert; ids generated (UUIDs) when omitted. Returns the ids."""
    def query(self, query_embeddings: VectorLike | None = ..., n_results: int = ..., where: Where = ...,
              include: Include = ..., *, query: VectorLike | None = ..., k: int | None = ..., **kw: Any) -> Any:
        """Chroma's query (a dict of lists) with query_embeddings=; search() with query= or k=."""
    @overload
    def get(self, ids: AnyId, include: Include = ...) -> Point | None:
        """The point with this id, or None."""
    @overload
    def get(self, ids: Sequence[AnyId], include: Include = ...) -> list[Point | None]:
        """Points by id, in order, None where an id does not exist."""
    @overload
    def get(self, ids: None = ..., include: Include = ..., *, where: Where = ..., limit: int | None = ...,
            offset: int | None = ..., format: Literal["points"] = ...) -> list[Point]:
        """Points matching `where` in id order, after `offset`, at most `limit`."""
    @overload
    def get(self, ids: AnyIds | None = ..., include: Include = ..., *, where: Where = ...,
            limit: int | None = ..., offset: int | None = ..., format: Literal["chroma"]) -> dict[str, Any]:
        """Chroma's get: {"ids", "embeddings", "metadatas"}."""
    def __getitem__(self, id: AnyId) -> Point:
        """The point; raises NotFoundError."""
    def __contains__(self, id: object) -> bool: ...
    def count(self, where: Where = ...) -> int:
        """Live points, or those matching `where`."""
    def __len__(self) -> int: ...
    def __bool__(self) -> bool:
        """Always true (a handle); len() tells whether it is empty."""
    def scroll(self, limit: int = ..., cursor: str | None = ..., *, where: Where = ...,
               include: Include = ...) -> ScrollPage:
        """A page of points in id order after `cursor`."""
    def iter_points(self, batch: int = ..., *, where: Where = ..., include: Include = ...) -> Iterator[Point]:
        """Every point (matching `where`) in id order."""
    def __iter__(self) -> Iterator[Point]: ...
    def create_payload_index(self, field: str, type: Literal["keyword", "integer", "float", "bool"]) -> None:
        """Indexes a metadata field for faster filters."""
    def drop_payload_index(self, field: str) -> None:
        """Removes a payload index; NotFoundError if absent."""
    def list_payload_indexes(self) -> dict[str, str]:
        """{field: type} of every payload index."""
    def stats(self) -> CollectionStats:
        """Count, index memory, disk use, deleted slots, index kind."""
    def checkpoint(self) -> None:
        """Saves every shard's index to disk now."""

class Database:
    """A directory of collections; a context manager. Thread-safe."""
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None:
        """Closes every collection, saving checkpoints. Idempotent."""
    def __enter__(self) -> Database: ...
    def __exit__(self, *exc: object) -> None: ...
    def create_collection(self, name: str, *, dim: int, metric: Literal["cosine", "l2", "ip"] | str = ...,
                          m: int = ..., ef_construction: int = ..., ef_search: int = ..., shards: int = ...,
                          seed: int = ..., flat_max_points: int = ...,
                          checkpoint_every_ops: int = ..., quantization: Literal["none", "sq8"] | str = ...,
                          metadata: Mapping[str, Any] | None = ...) -> Collection:
        """Creates a collection; AlreadyExistsError if it exists."""
    def get_collection(self, name: str) -> Collection:
        """The collection; NotFoundError if absent."""
    def get_or_create_collection(self, name: str, *, dim: int, metric: Literal["cosine", "l2", "ip"] | str = ...,
                                 m: int = ..., ef_construction: int = ..., ef_search: int = ...,
                                 shards: int = ..., seed: int = ..., flat_max_points: int = ...,
                                 checkpoint_every_ops: int = ..., quantization: Literal["none", "sq8"] | str = ...,
                          metadata: Mapping[str, Any] | None = ...) -> Collection:
        """The existing collection (same dim and metric) or a new one."""
    def list_collections(self) -> list[str]:
        """Sorted collection names."""
    def __contains__(self, name: object) -> bool: ...
    def rename_collection(self, old: str, new: str) -> None:
        """Renames a collection."""
    def drop_collection(self, name: str) -> None:
        """Deletes a collection and its files."""
    def sync(self) -> None:
        """Flushes every environment to disk."""

def open(path: str | os.PathLike[str], *, create_if_missing: bool = ..., durability: Literal["full", "nometasync", "nosync"] | str = ...,
         map_size_bytes: int = ..., threads: int = ...) -> Database:
    """Opens (or creates) the database in directory `path`."""

from .remote import (
    ApiKey as ApiKey,
    Client as Client,
    RemoteCollection as RemoteCollection,
    connect as connect,
)
