// The reranking and feedback part of the _vectron extension (rerank_bindings.cc):
// Collection.feedback / feedback_stats / export_feedback / search_reranked /
// set_default_rerank / default_rerank. module.cc hands each a runner that makes the
// engine call as a counted call in flight (PyCollection::Run); errors are raised as
// binding_common.h's StatusError, as everywhere in the extension.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <string>

#include "vectron/vectron.h"

namespace vectron::python {

// Runs f(collection) as a call in flight. REQUIRES: GIL released.
using CollectionRunner = std::function<void(const std::function<void(Collection&)>&)>;

// Each takes and releases the GIL itself. REQUIRES: GIL held on entry.
void Feedback(const CollectionRunner& run, const std::string& point_id, int rating, const std::string& query_id,
              const std::string& comment);
// {"count", "mean" (None if no rating), "histogram" {1..5: n}}.
pybind11::dict FeedbackStats(const CollectionRunner& run, const std::string& point_id);
// Every rating as a dict {"point_id", "rating", "time_ms", "query_id", "comment"}.
pybind11::list ExportFeedback(const CollectionRunner& run);
// (up to `limit` ratings after `cursor` ("" = the first) as ExportFeedback's dicts, the
// cursor of the next page or None at the end): Collection::ExportFeedbackPage.
pybind11::tuple ExportFeedbackPage(const CollectionRunner& run, const std::string& cursor, size_t limit);
// (query_id, [(id, score, vector | None, metadata-json | None, relevance, components | None)]).
// `pipeline_json` is ParseRerankPipeline's form; `custom` a callable
// custom(query: ndarray, ids: list[str], distances: ndarray, vectors: ndarray (n, dim),
// metadata: list[str]) -> sequence of n floats, or None; its exception propagates.
pybind11::tuple SearchReranked(const CollectionRunner& run, const pybind11::array_t<float>& query,
                               const SearchParams& params, const std::string& pipeline_json,
                               const pybind11::object& custom, double custom_weight, bool explain);
void SetDefaultRerank(const CollectionRunner& run, const std::string& pipeline_json);
std::string DefaultRerank(const CollectionRunner& run);

}  // namespace vectron::python
