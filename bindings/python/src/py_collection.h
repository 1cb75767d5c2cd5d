// The Collection handle of the _vectron extension (PyCollection): every engine call runs
// as a counted call in flight on its database (CallScope) with the GIL released. Its
// Python methods are bound in module.cc. Included by module.cc only.
#pragma once

#include "binding_common.h"
#include "rerank_bindings.h"

// Hidden, as pybind11's own types: the extension exports only its init function.
#pragma GCC visibility push(hidden)
namespace vectron::python {

// ---------------------------------------------------------------------------------------
// Collection handle

class PyCollection {
 public:
  PyCollection(std::shared_ptr<DbState> state, std::shared_ptr<Collection> col)
      : state_(std::move(state)), col_(std::move(col)), name_(col_->name()), config_(col_->config()) {}

 private:
  // Runs f(collection) as a call in flight on the database (see CallScope): raises
  // DatabaseClosedError once it is closing, and NotFoundError (the engine's status)
  // once the collection is dropped or renamed. REQUIRES: GIL released.
  template <typename F>
  auto With(F&& f) const {
    CallScope call(*state_);
    return f(*col_);
  }

 public:
  // With, for rerank_bindings.cc. REQUIRES: GIL released.
  void Run(const std::function<void(Collection&)>& f) const { With(f); }
  // Runs an engine call of rerank_bindings.cc as a call in flight.
  CollectionRunner Runner() const {
    return [this](const std::function<void(Collection&)>& f) { Run(f); };
  }
  const std::string& name() const { return name_; }
  py::dict config() const { return ConfigDict(config_); }
  uint32_t dim() const { return config_.dim; }

  void Upsert(const std::vector<std::string>& ids, const FloatArray& vectors,
              const std::vector<std::optional<std::string>>& metadata) {
    if (vectors.ndim() != 2) ThrowInvalid("vectors must be a 2-D array (n, dim), got " + std::to_string(vectors.ndim()) + "-D");
    const size_t n = ids.size();
    if (static_cast<size_t>(vectors.shape(0)) != n)
      ThrowInvalid("got " + std::to_string(n) + " ids but " + std::to_string(vectors.shape(0)) + " vectors");
    if (!metadata.empty() && metadata.size() != n)
      ThrowInvalid("got " + std::to_string(n) + " ids but " + std::to_string(metadata.size()) + " metadata entries");
    const size_t cols = static_cast<size_t>(vectors.shape(1));
    const float* data = vectors.data();
    RaisePendingSignal("vectron: interrupted before the upsert of " + Points(n) + " started: none is written");
    {
      py::gil_scoped_release release;
      WriteBatch batch;
      for (size_t i = 0; i < n; ++i) {
        std::string meta = (!metadata.empty() && metadata[i]) ? *metadata[i] : std::string();
        batch.Upsert(ids[i], std::span<const float>(data + i * cols, cols), std::move(meta));
      }
      With([&](Collection& c) { Check(c.Write(batch)); });
    }
    RaisePendingSignal("vectron: this interrupt came during the upsert of " + Points(n) +
                       ", which completed: all of them are written (an upsert is all or nothing)");
  }

  // Partial updates (WriteBatch::Op 3 set / 4 merge metadata: one text per id; 5
  // update vector: `vectors` (n, dim)), all or nothing.
  void Update(int op, const std::vector<std::string>& ids, const FloatArray& vectors,
              const std::vector<std::string>& metadata) {
    const size_t n = ids.size();
    const bool vec = op == static_cast<int>(WriteBatch::Op::kUpdateVector);
    if (!vec && op != static_cast<int>(WriteBatch::Op::kSetMetadata) &&
        op != static_cast<int>(WriteBatch::Op::kMergeMetadata))
      ThrowInvalid("unknown update op " + std::to_string(op));
    if (vec && (vectors.ndim() != 2 || static_cast<size_t>(vectors.shape(0)) != n))
      ThrowInvalid("vectors must have shape (" + std::to_string(n) + ", dim)");
    if (!vec && metadata.size() != n)
      ThrowInvalid("got " + std::to_string(n) + " ids but " + std::to_string(metadata.size()) + " metadata entries");
    const size_t cols = vec ? static_cast<size_t>(vectors.shape(1)) : 0;
    RaisePendingSignal("vectron: interrupted before the update started: nothing is written");
    {
      py::gil_scoped_release release;
      WriteBatch batch;
      for (size_t i = 0; i < n; ++i) {
        if (vec) batch.UpdateVector(ids[i], std::span<const float>(vectors.data() + i * cols, cols));
        else batch.SetMetadata(ids[i], metadata[i], op == static_cast<int>(WriteBatch::Op::kMergeMetadata));
      }
      With([&](Collection& c) { Check(c.Write(batch)); });
    }
    RaisePendingSignal("vectron: this interrupt came during an update of " + Points(n) +
                       ", which completed: all of them are written (an update is all or nothing)");
  }

  // Collection::List: the page get(where, limit, offset).
  py::list List(const std::string& where, size_t limit, uint64_t offset, const GetOptions& options) const {
    std::vector<Point> points;
    {
      py::gil_scoped_release release;
      points = With([&](Collection& c) { return Unwrap(c.List(where, limit, offset, options)); });
    }
    py::list out(points.size());
    for (size_t i = 0; i < points.size(); ++i) out[i] = PointTuple(points[i], options);
    return out;
  }

  void Delete(const std::vector<std::string>& ids) {
    RaisePendingSignal("vectron: interrupted before the delete started: nothing is deleted");
    {
      py::gil_scoped_release release;
      With([&](Collection& c) { Check(c.Delete(ids)); });
    }
    RaisePendingSignal("vectron: this interrupt came during the delete of " + std::to_string(ids.size()) +
                       " ids, which completed: all of them are deleted (a delete is all or nothing)");
  }

  py::list Search(const FloatArray& query, const SearchParams& params) const {
    if (query.ndim() != 1) ThrowInvalid("query must be 1-D, got " + std::to_string(query.ndim()) + "-D");
    std::span<const float> q(query.data(), static_cast<size_t>(query.shape(0)));
    std::vector<Hit> hits;
    {
      py::gil_scoped_release release;
      hits = With([&](Collection& c) { return Unwrap(c.Search(q, params)); });
    }
    py::list out(hits.size());
    for (size_t i = 0; i < hits.size(); ++i)
      out[i] = HitTuple(hits[i], params.include_vector, params.include_metadata);
    return out;
  }

  std::vector<std::vector<Hit>> RunBatch(const FloatArray& queries, const SearchParams& params, unsigned threads) const {
    if (queries.ndim() != 2) ThrowInvalid("queries must be a 2-D array (n, dim), got " + std::to_string(queries.ndim()) + "-D");
    if (static_cast<size_t>(queries.shape(1)) != config_.dim)
      ThrowInvalid("queries have dimension " + std::to_string(queries.shape(1)) + ", collection '" + name_ +
                   "' has dimension " + std::to_string(config_.dim));
    std::span<const float> q(queries.data(), static_cast<size_t>(queries.size()));
    py::gil_scoped_release release;
    if (q.empty()) return {};
    return With([&](Collection& c) { return Unwrap(c.SearchBatch(q, params, threads)); });
  }

  py::list SearchBatch(const FloatArray& queries, const SearchParams& params, unsigned threads) const {
    auto all = RunBatch(queries, params, threads);
    py::list out(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      py::list row(all[i].size());
      for (size_t j = 0; j < all[i].size(); ++j) row[j] = HitTuple(all[i][j], params.include_vector, params.include_metadata);
      out[i] = std::move(row);
    }
    return out;
  }

  // (ids, scores): a (n, m) numpy unicode array and a (n, m) float32 array, m = the most
  // hits any row got (<= min(k, points)), so a huge k costs nothing. Rows with fewer than
  // m hits are padded with id "" and score +inf.
  py::tuple SearchBatchNumpy(const FloatArray& queries, SearchParams params, unsigned threads) const {
    params.include_vector = false;
    params.include_metadata = false;
    auto all = RunBatch(queries, params, threads);
    const size_t n = static_cast<size_t>(queries.shape(0));
    size_t k = 0;
    for (auto& row : all) k = std::max(k, std::min(row.size(), static_cast<size_t>(params.k)));
    size_t width = 1;
    bool ascii = true;
    for (auto& row : all)
      for (auto& h : row) {
        for (unsigned char ch : h.id) ascii &= ch < 0x80;
        width = std::max(width, ascii ? h.id.size() : DecodeUtf8(h.id, nullptr));
      }
    if (!ascii) {  // widths measured before the first non-ASCII id were bytes; redo in code points
      width = 1;
      for (auto& row : all)
        for (auto& h : row) width = std::max(width, DecodeUtf8(h.id, nullptr));
    }
    py::array ids(py::dtype("<U" + std::to_string(width)), std::vector<py::ssize_t>{static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
    py::array_t<float> scores(std::vector<py::ssize_t>{static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
    auto* id_data = static_cast<uint32_t*>(ids.mutable_data());
    float* score_data = scores.mutable_data();
    {
      py::gil_scoped_release release;
      std::memset(id_data, 0, n * k * width * sizeof(uint32_t));
      std::fill(score_data, score_data + n * k, std::numeric_limits<float>::infinity());
      for (size_t i = 0; i < all.size(); ++i)
        for (size_t j = 0; j < all[i].size() && j < k; ++j) {
          const Hit& h = all[i][j];
          uint32_t* dst = id_data + (i * k + j) * width;
          if (ascii) for (size_t b = 0; b < h.id.size(); ++b) dst[b] = static_cast<unsigned char>(h.id[b]);
          else DecodeUtf8(h.id, dst);
          score_data[i * k + j] = h.score;
        }
    }
    return py::make_tuple(std::move(ids), std::move(scores));
  }

  py::list Get(const std::vector<std::string>& ids, const GetOptions& options) const {
    std::vector<std::optional<Point>> got;
    {
      py::gil_scoped_release release;
      got = With([&](Collection& c) { return Unwrap(c.Get(ids, options)); });
    }
    py::list out(got.size());
    for (size_t i = 0; i < got.size(); ++i) out[i] = got[i] ? py::object(PointTuple(*got[i], options)) : py::none();
    return out;
  }

  uint64_t Count(const std::string& where) const {
    py::gil_scoped_release release;
    return With([&](Collection& c) -> uint64_t {
      return Unwrap(c.Count(where));
    });
  }

  py::tuple Scroll(const std::string& cursor, size_t limit, const GetOptions& options, const std::string& where) const {
    ScrollPage page;
    {
      py::gil_scoped_release release;
      page = With([&](Collection& c) {
        return Unwrap(c.Scroll(cursor, limit, options, where));
      });
    }
    py::list points(page.points.size());
    for (size_t i = 0; i < page.points.size(); ++i) points[i] = PointTuple(page.points[i], options);
    return py::make_tuple(std::move(points), py::str(page.next_cursor));
  }

  uint64_t DeleteWhere(const std::string& where) {
    RaisePendingSignal("vectron: interrupted before the delete started: nothing is deleted");
    uint64_t deleted;
    {
      py::gil_scoped_release release;
      deleted = With([&](Collection& c) -> uint64_t { return Unwrap(c.DeleteWhere(where)); });
    }
    RaisePendingSignal("vectron: this interrupt came during a delete by filter, which completed: " +
                       Points(deleted) + " deleted (a delete is all or nothing)");
    return deleted;
  }

  void CreatePayloadIndex(const std::string& field, const std::string& type) {
    PayloadType t;
    if (!ParsePayloadType(type, &t))
      ThrowInvalid("payload index type must be 'keyword', 'integer', 'float' or 'bool', not '" + type + "'");
    py::gil_scoped_release release;
    With([&](Collection& c) { Check(c.CreatePayloadIndex(field, t)); });
  }

  void DropPayloadIndex(const std::string& field) {
    py::gil_scoped_release release;
    With([&](Collection& c) { Check(c.DropPayloadIndex(field)); });
  }

  std::vector<std::pair<std::string, std::string>> ListPayloadIndexes() const {
    std::vector<PayloadIndexInfo> infos;
    {
      py::gil_scoped_release release;
      infos = With([&](Collection& c) { return Unwrap(c.ListPayloadIndexes()); });
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& i : infos) out.emplace_back(i.field, PayloadTypeName(i.type));
    return out;
  }

  py::dict Stats() const {
    CollectionStats s;
    {
      py::gil_scoped_release release;
      s = With([&](Collection& c) { return Unwrap(c.Stats()); });
    }
    py::dict d;
    d["count"] = s.count;
    d["index_memory_bytes"] = s.index_memory_bytes;
    d["disk_bytes"] = s.disk_bytes;
    d["deleted_slots"] = s.deleted_slots;
    d["index_kind"] = s.index_kind;
    return d;
  }

  void Checkpoint() {
    py::gil_scoped_release release;
    With([&](Collection& c) { Check(c.Checkpoint()); });
  }

  // Whether the handle can still be used (database open, collection neither dropped nor
  // renamed): the database still hands out this very handle for its name.
  bool valid() const {
    if (state_->Inherited()) return false;
    py::gil_scoped_release release;
    try {
      CallScope call(*state_);
      auto current = call.db().GetCollection(name_);
      return current.ok() && current->get() == col_.get();
    } catch (const StatusError&) {  // Closing.
      return false;
    }
  }

 private:
  std::shared_ptr<DbState> state_;
  // Shared with the Database (and the other handles of this collection): safe to call
  // after a drop, a rename or close (the engine answers NotFound / FailedPrecondition).
  std::shared_ptr<Collection> col_;
  std::string name_;
  CollectionConfig config_;
};

}  // namespace vectron::python
#pragma GCC visibility pop
