#include "rerank_bindings.h"

#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <optional>

#include "binding_common.h"

namespace py = pybind11;

namespace vectron::python {

namespace {

// A Python exception raised by the custom reranker, carried out of the engine call
// (which runs with the GIL released) and raised again in the caller.
struct PendingPyError {
  std::optional<py::error_already_set> error;  // Set and read with the GIL held.
};

}  // namespace

void Feedback(const CollectionRunner& run, const std::string& point_id, int rating, const std::string& query_id,
              const std::string& comment) {
  Status s;
  {
    py::gil_scoped_release release;
    run([&](Collection& c) { s = c.Feedback(point_id, rating, query_id, comment); });
  }
  Check(s);
}

py::dict FeedbackStats(const CollectionRunner& run, const std::string& point_id) {
  Result<RatingStats> r = Status::Internal("not run");
  {
    py::gil_scoped_release release;
    run([&](Collection& c) { r = c.FeedbackStats(point_id); });
  }
  RatingStats st = Unwrap(std::move(r));
  py::dict hist;
  for (int i = 1; i <= 5; ++i) hist[py::int_(i)] = st.histogram[i - 1];
  py::dict out;
  out["count"] = st.count;
  out["mean"] = st.count ? py::object(py::float_(st.mean)) : py::object(py::none());
  out["histogram"] = hist;
  return out;
}

namespace {

py::list RatingDicts(const std::vector<Rating>& ratings) {
  py::list out;
  for (const auto& r : ratings) {
    py::dict d;
    d["point_id"] = r.point_id;
    d["rating"] = r.rating;
    d["time_ms"] = r.time_ms;
    d["query_id"] = r.query_id.empty() ? py::object(py::none()) : py::object(py::str(r.query_id));
    d["comment"] = r.comment.empty() ? py::object(py::none()) : py::object(py::str(r.comment));
    out.append(d);
  }
  return out;
}

}  // namespace

py::list ExportFeedback(const CollectionRunner& run) {
  std::vector<Rating> all;
  Status s;
  {
    py::gil_scoped_release release;
    run([&](Collection& c) {
      s = c.ExportFeedback([&](const Rating& r) {
        all.push_back(r);
        return Status::OK();
      });
    });
  }
  Check(s);
  return RatingDicts(all);
}

py::tuple ExportFeedbackPage(const CollectionRunner& run, const std::string& cursor, size_t limit) {
  std::vector<Rating> page;
  Result<std::string> next = Status::Internal("not run");
  {
    py::gil_scoped_release release;
    run([&](Collection& c) {
      next = c.ExportFeedbackPage(cursor, limit, [&](const Rating& r) {
        page.push_back(r);
        return Status::OK();
      });
    });
  }
  std::string n = Unwrap(std::move(next));
  return py::make_tuple(RatingDicts(page), n.empty() ? py::object(py::none()) : py::object(py::str(n)));
}

py::tuple SearchReranked(const CollectionRunner& run, const py::array_t<float>& query, const SearchParams& params,
                         const std::string& pipeline_json, const py::object& custom, double custom_weight,
                         bool explain) {
  if (query.ndim() != 1) ThrowInvalid("query must be 1-D for a reranked search");
  RerankPipeline pipeline = Unwrap(ParseRerankPipeline(pipeline_json.empty() ? "{}" : pipeline_json));
  auto pending = std::make_shared<PendingPyError>();
  if (!custom.is_none()) {
    if (!PyCallable_Check(custom.ptr())) ThrowInvalid("rerank custom must be callable");
    // The callable stays alive in the caller's frame (`custom`): the engine holds only
    // its pointer, and touches it with the GIL held.
    PyObject* fn = custom.ptr();
    pipeline.custom = RerankCustom{
        [fn, pending](std::span<const float> q, std::span<const RerankCandidate> cands) -> Result<std::vector<double>> {
          py::gil_scoped_acquire gil;
          try {
            const size_t n = cands.size(), dim = q.size();
            py::array_t<float> qa(static_cast<py::ssize_t>(dim), q.data());
            py::list ids, meta;
            py::array_t<float> dist(static_cast<py::ssize_t>(n));
            py::array_t<float> vecs({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(dim)});
            auto d = dist.mutable_unchecked<1>();
            auto v = vecs.mutable_unchecked<2>();
            for (size_t i = 0; i < n; ++i) {
              ids.append(py::str(cands[i].id.data(), cands[i].id.size()));
              meta.append(py::str(cands[i].metadata.data(), cands[i].metadata.size()));
              d(i) = cands[i].distance;
              for (size_t j = 0; j < dim; ++j) v(i, j) = j < cands[i].vector.size() ? cands[i].vector[j] : 0.0f;
            }
            py::object got = py::reinterpret_borrow<py::object>(fn)(qa, ids, dist, vecs, meta);
            std::vector<double> scores;
            for (py::handle x : py::iter(got)) scores.push_back(py::cast<double>(x));
            return scores;
          } catch (py::error_already_set& e) {
            pending->error = std::move(e);
            return Status::Aborted("the custom reranker raised a Python exception");
          } catch (const py::cast_error& e) {
            return Status::InvalidArgument(std::string("rerank custom: the scores must be numbers (") + e.what() + ")");
          }
        },
        custom_weight};
  }
  std::span<const float> q(query.data(), static_cast<size_t>(query.shape(0)));
  Result<RerankedResult> r = Status::Internal("not run");
  RerankOptions opts;
  opts.explain = explain;
  {
    py::gil_scoped_release release;
    run([&](Collection& c) { r = c.SearchReranked(q, params, pipeline, opts); });
  }
  if (pending->error) {
    py::error_already_set e = std::move(*pending->error);
    pending->error.reset();
    throw e;
  }
  RerankedResult res = Unwrap(std::move(r));
  py::list hits;
  for (const auto& h : res.hits) {
    py::object vec = py::none(), meta = py::none(), comp = py::none();
    if (params.include_vector) vec = py::array_t<float>(static_cast<py::ssize_t>(h.hit.vector.size()), h.hit.vector.data());
    if (params.include_metadata) meta = py::str(h.hit.metadata);
    if (explain) {
      py::dict c;
      c["similarity"] = h.components.similarity;
      c["boost"] = h.components.boost;
      c["fields"] = h.components.fields;
      c["decay"] = h.components.decay;
      c["feedback"] = h.components.feedback;
      c["custom"] = h.components.custom;
      c["mmr_redundancy"] = h.components.mmr_redundancy;
      comp = c;
    }
    hits.append(py::make_tuple(py::str(h.hit.id), h.hit.score, vec, meta, h.relevance, comp));
  }
  return py::make_tuple(py::str(res.query_id), hits);
}

void SetDefaultRerank(const CollectionRunner& run, const std::string& pipeline_json) {
  Status s;
  {
    py::gil_scoped_release release;
    run([&](Collection& c) { s = c.SetDefaultRerank(pipeline_json); });
  }
  Check(s);
}

std::string DefaultRerank(const CollectionRunner& run) {
  Result<std::string> r = Status::Internal("not run");
  {
    py::gil_scoped_release release;
    run([&](Collection& c) { r = c.DefaultRerank(); });
  }
  return Unwrap(std::move(r));
}

}  // namespace vectron::python
