"""Reranking and feedback for the embedded Collection (docs/rerank.md): a mixin with
feedback(), feedback_stats(), export_feedback(), the default pipeline, and the reranked
form of search() (``rerank=``, ``explain=``)."""
from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ._common import Hit, _floats, _include, _meta, _search_args
from .errors import InvalidArgumentError


@dataclass(slots=True, eq=False, repr=False)
class RerankedHit(Hit):
    """A hit of a reranked search: ``score`` stays the distance; ``relevance`` (higher
    is better) orders the hits; ``components`` (with ``explain=True``) its parts:
    similarity, boost, fields, decay, feedback, custom, mmr_redundancy."""

    relevance: float = 0.0
    components: "dict[str, float] | None" = None

    def __repr__(self) -> str:
        return f"RerankedHit(id={self.id!r}, score={self.score:.6g}, relevance={self.relevance:.6g})"


class RerankedHits(list):
    """The hits of a reranked search (a list of :class:`RerankedHit`), with the search's
    ``query_id`` to quote in :meth:`Collection.feedback`."""

    query_id: str = ""


def _pipeline_args(rerank: Any) -> tuple[str, Any, float]:
    """(pipeline JSON, custom callable or None, custom weight) from ``rerank=``."""
    if not isinstance(rerank, Mapping):
        raise InvalidArgumentError(f"rerank must be a dict (docs/rerank.md) or \"default\", got {type(rerank).__name__}")
    stages = dict(rerank)
    custom = stages.pop("custom", None)
    weight = 1.0
    if isinstance(custom, Mapping):
        weight = float(custom.get("weight", 1.0))
        extra = set(custom) - {"fn", "weight"}
        if extra:
            raise InvalidArgumentError(f"rerank custom: unknown key {sorted(extra)[0]!r} (fn, weight)")
        custom = custom.get("fn")
    if custom is not None and not callable(custom):
        raise InvalidArgumentError("rerank custom must be a callable, or {\"fn\": callable, \"weight\": w}")
    try:
        text = _json.dumps(stages, allow_nan=False)
    except ValueError:
        raise InvalidArgumentError("rerank: weights must be finite numbers (NaN or Infinity given)") from None
    return text, custom, weight


class _RerankMixin:
    _c: Any

    def feedback(self, point_id: str, rating: int, *, query_id: "str | None" = None,
                 comment: "str | None" = None) -> None:
        """Rates point ``point_id`` 1-5, durably (committed when this returns); the
        ratings go with the point when it is deleted. ``query_id``: the search that
        showed it (``hits.query_id``); ``comment`` at most 4096 bytes.
        Raises :class:`InvalidArgumentError` (bad rating, id, sizes), :class:`NotFoundError`
        (no such point)."""
        if isinstance(rating, bool) or not isinstance(rating, int):
            raise InvalidArgumentError(f"rating must be an integer from 1 to 5, got {rating!r}")
        if not -2**31 <= rating < 2**31:
            raise InvalidArgumentError(f"rating must be an integer from 1 to 5, got {rating}")
        self._c.feedback(str(point_id), rating, query_id or "", comment or "")

    def feedback_stats(self, point_id: str) -> dict:
        """{"count", "mean" (None if unrated), "histogram" {1: n, ..., 5: n}}."""
        return self._c.feedback_stats(str(point_id))

    def export_feedback(self) -> list:
        """Every rating: dicts {"point_id", "rating", "time_ms", "query_id", "comment"}."""
        return self._c.export_feedback()

    def export_feedback_page(self, limit: int = 10000, cursor: "str | None" = None) -> tuple:
        """(ratings, next_cursor): up to ``limit`` ratings (as export_feedback's dicts) after
        ``cursor`` (None = from the first); pass next_cursor back for the next page, until
        it is None. Each page is read at one snapshot per shard."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        if cursor is not None and not isinstance(cursor, str):
            raise TypeError(f"cursor must be a str or None, got {type(cursor).__name__}")
        return self._c.export_feedback_page(cursor or "", limit)

    def set_default_rerank(self, pipeline: "Mapping[str, Any] | None") -> None:
        """Stores the default pipeline (JSON stages only; None removes it), used by
        REST searches without "rerank" and by ``search(rerank="default")``."""
        if pipeline is None:
            self._c.set_default_rerank("")
            return
        text, custom, _ = _pipeline_args(pipeline)
        if custom is not None:
            raise InvalidArgumentError("a default pipeline cannot hold a custom reranker")
        self._c.set_default_rerank(text)

    def default_rerank(self) -> "dict | None":
        """The stored default pipeline, or None."""
        text = self._c.default_rerank()
        return _json.loads(text) if text else None

    def _search_reranked(self, query: Any, k: Any, rerank: Any, explain: bool, where: Any, ef: Any, exact: bool,
                         include: Any, filter_strategy: str, offset: int) -> RerankedHits:
        k, ef_v, _, w = _search_args(k, ef, 0, where, filter_strategy)
        if rerank == "default":
            text, custom, weight = self._c.default_rerank() or "{}", None, 1.0
        elif rerank is None:
            text, custom, weight = "{}", None, 1.0
        else:
            text, custom, weight = _pipeline_args(rerank)
        q = _floats(query, "query")
        if q.ndim != 1:
            raise InvalidArgumentError(f"a reranked search takes one query of shape (dim,), got shape {q.shape}")
        iv, im = _include(include)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgumentError(f"offset must be an integer >= 0, got {offset!r}")
        qid, rows = self._c.search_reranked(q, k, ef_v, bool(exact), iv, im, w, filter_strategy, offset, text, custom,
                                            weight, bool(explain))
        out = RerankedHits(RerankedHit(i, s, v, _meta(m), rel, comp) for (i, s, v, m, rel, comp) in rows)
        out.query_id = qid
        return out


# The signature the custom reranker is called with.
CustomReranker = Callable[..., Any]
