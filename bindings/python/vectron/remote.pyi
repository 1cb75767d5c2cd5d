"""vectron.connect: the collection API of vectron.open against a server (REST/JSON)."""

import ssl
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence, overload

import numpy as np
import numpy.typing as npt

from . import AnyId, AnyIds, CollectionStats, FilterStrategy, Hit, Ids, Include, Metadata, Point, ScrollPage, VectorLike, Where

class ApiKey:
    """An API key just created; `token` is shown only once."""
    key_id: str
    token: str
    name: str
    scopes: list[str]
    expires_at: int | None

class RemoteCollection:
    """A collection on a server: the methods of vectron.Collection over HTTP. Thread-safe."""
    @property
    def name(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def database(self) -> Client: ...
    def upsert(self, ids: Ids, vectors: VectorLike | None = ...,
               metadata: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = ..., *,
               embeddings: VectorLike | None = ..., metadatas: Any = ...) -> None:
        """Inserts or replaces points atomically; retried on transient failures."""
    def delete(self, ids: Ids | None = ..., where: Where = ...) -> int | None:
        """Deletes by ids (returns None) or by filter (returns the count deleted)."""
    @overload
    def search(self, query: VectorLike, k: int = ..., *, where: Where = ..., ef: int | None = ...,
               exact: bool = ..., include: Include = ..., as_numpy: Literal[False] = ...,
               threads: int = ..., filter_strategy: FilterStrategy = ..., offset: int = ...,
               score_threshold: float | None = ...) -> list[Hit] | list[list[Hit]]:
        """The k nearest points: list[Hit] for one query, list[list[Hit]] for a 2-D batch."""
    @overload
    def search(self, query: VectorLike, k: int = ..., *, where: Where = ..., ef: int | None = ...,
               exact: bool = ..., include: Include = ..., as_numpy: Literal[True],
               threads: int = ..., filter_strategy: FilterStrategy = ...
               ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float32]]:
        """(ids, scores) numpy arrays of shape (m,) or (n, m), m = the most hits of any row (<= k)."""
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
    def __getitem__(self, id: AnyId) -> Point: ...
    def __contains__(self, id: object) -> bool: ...
    def count(self, where: Where = ...) -> int: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool:
        """Always true (a handle); len() tells whether it is empty."""
    def scroll(self, limit: int = ..., cursor: str | None = ..., *, where: Where = ...,
               include: Include = ...) -> ScrollPage: ...
    def iter_points(self, batch: int = ..., *, where: Where = ..., include: Include = ...) -> Iterator[Point]: ...
    def __iter__(self) -> Iterator[Point]: ...
    def create_payload_index(self, field: str, type: Literal["keyword", "integer", "float", "bool"]) -> None: ...
    def drop_payload_index(self, field: str) -> None: ...
    def list_payload_indexes(self) -> dict[str, str]: ...
    def stats(self) -> CollectionStats: ...

class Client:
    """A server's collections: the methods of vectron.Database over HTTP. Thread-safe."""
    @property
    def url(self) -> str: ...
    token: str | None
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Client: ...
    def __exit__(self, *exc: object) -> None: ...
    def create_collection(self, name: str, *, dim: int, metric: Literal["cosine", "l2", "ip"] | str = ...,
                          m: int = ..., ef_construction: int = ..., ef_search: int = ..., shards: int = ...,
                          seed: int = ..., flat_max_points: int = ...,
                          checkpoint_every_ops: int = ..., quantization: Literal["none", "sq8"] | str = ...,
                          metadata: Mapping[str, Any] | None = ...) -> RemoteCollection: ...
    def get_collection(self, name: str) -> RemoteCollection: ...
    def get_or_create_collection(self, name: str, *, dim: int, metric: Literal["cosine", "l2", "ip"] | str = ...,
                                 m: int = ..., ef_construction: int = ..., ef_search: int = ...,
                                 shards: int = ..., seed: int = ..., flat_max_points: int = ...,
                                 checkpoint_every_ops: int = ..., quantization: Literal["none", "sq8"] | str = ...,
                          metadata: Mapping[str, Any] | None = ...) -> RemoteCollection: ...
    def list_collections(self) -> list[str]: ...
    def __contains__(self, name: object) -> bool: ...
    def rename_collection(self, old: str, new: str) -> None:
        """Renames a collection."""
    def drop_collection(self, name: str) -> None: ...
    def login(self, username: str, password: str) -> str:
        """Logs in; the login token is used from now on and returned."""
    def refresh(self) -> str: ...
    def me(self) -> dict[str, Any]: ...
    def create_key(self, name: str, scopes: Sequence[Literal["read", "write", "admin", "feedback"]] | str, *,
                   collections: Sequence[str] | None = ..., expires_in: int | None = ...) -> ApiKey: ...
    def list_keys(self) -> list[dict[str, Any]]: ...
    def revoke_key(self, key_id: str) -> None: ...
    def health(self) -> bool: ...

def connect(url: str, *, token: str | None = ..., ca: str | ssl.SSLContext | None = ..., timeout: float = ...,
            retries: int = ..., backoff: float = ..., backoff_max: float = ..., pool_size: int = ...,
            on_retry: Callable[[int, float, Exception], None] | None = ...) -> Client:
    """A client of the server at `url` with the collection API of vectron.open."""
