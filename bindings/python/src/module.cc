// _vectron: the pybind11 extension under the `vectron` Python package.
//
// This layer is deliberately thin: it converts arguments, releases the GIL around every
// engine call, and turns a non-OK Status into the Python exception class of its code
// (classes defined in vectron/errors.py, the one translation table of this edge). The
// friendly API (Hit objects, dict metadata, include=...) lives in vectron/__init__.py.
//
// Lifetime: a Database handle owns a shared DbState; Collection handles share it, so a
// collection handle never outlives the engine objects it points to. Every engine call is
// counted while in flight (CallScope); close() (or drop_collection) refuses new calls at
// once and waits for the counted ones, so later calls raise DatabaseClosedError /
// NotFoundError instead of touching freed memory, and no stream of callers delays it.
//
// Lock order: release the GIL first, then DbState::catalog_mu, then DbState::mu. Never
// the other way round; mu is never held across an engine call.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rerank_bindings.h"
#include "vectron/vectron.h"

namespace py = pybind11;

namespace vectron::python {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// ---------------------------------------------------------------------------------------
// Errors

// Thrown (possibly with the GIL released) and translated to a Python exception by the
// translator registered in the module init, after the GIL is held again.
class StatusError : public std::exception {
 public:
  enum class Kind { kStatus, kClosed };
  StatusError(Status status, Kind kind = Kind::kStatus) : status_(std::move(status)), kind_(kind) {}
  const char* what() const noexcept override { return status_.message().c_str(); }
  const Status& status() const { return status_; }
  Kind kind() const { return kind_; }

 private:
  Status status_;
  Kind kind_;
};

void Check(Status s) {
  if (!s.ok()) throw StatusError(std::move(s));
}

template <typename T>
T Unwrap(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).value();
}

[[noreturn]] void ThrowInvalid(std::string message) {
  throw StatusError(Status::InvalidArgument(std::move(message)));
}

// Python exception classes by status code name, loaded from vectron.errors at import.
// Leaked on purpose: they must outlive interpreter finalisation order.
struct ErrorClasses {
  py::handle by_code[16];
  py::handle closed;
  py::handle base;
};
ErrorClasses* g_errors = nullptr;

void LoadErrorClasses() {
  py::module_ errors = py::module_::import("vectron.errors");
  g_errors = new ErrorClasses();
  py::dict table = errors.attr("_BY_CODE");
  g_errors->base = py::object(errors.attr("Error")).release();
  g_errors->closed = py::object(errors.attr("DatabaseClosedError")).release();
  for (int c = 0; c < 16; ++c) {
    g_errors->by_code[c] = g_errors->base;
    std::string name(StatusCodeName(static_cast<StatusCode>(c)));
    if (table.contains(name)) g_errors->by_code[c] = py::object(table[py::str(name)]).release();
  }
}

void TranslateStatusError(const StatusError& e) {
  py::handle cls = g_errors->base;
  if (e.kind() == StatusError::Kind::kClosed) {
    cls = g_errors->closed;
  } else {
    int code = static_cast<int>(e.status().code());
    if (code >= 0 && code < 16) cls = g_errors->by_code[code];
  }
  PyErr_SetString(cls.ptr(), e.status().message().c_str());
}

// ---------------------------------------------------------------------------------------
// Database state shared by the Database and Collection handles.

bool IsFinalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// Counts fork()s (pthread_atfork, in the child). A handle opened before a fork belongs to
// the parent: in the child its engine state (locks held by the parent's threads, LMDB
// environments) must not be touched, not even to close it.
std::atomic<uint64_t> g_fork_generation{0};

// Calls in flight on a database, counted so that close() and drop_collection() wait for
// exactly those: close() refuses new calls at once (no stream of callers can starve it,
// as readers of a reader-preferring rwlock could) and then waits for the running ones.
struct DbState {
  struct Use {             // one collection handle in use
    uint64_t calls = 0;    // calls on it in flight
    bool dropping = false; // drop_collection started: new calls are refused
    // Which collection this is: a collection created after a drop may get the same
    // address, and the old handles must not reach it.
    uint64_t id = 0;
  };
  uint64_t next_use_id = 1;  // guarded by mu

  std::mutex mu;                  // guards the fields below; never held across an engine call
  std::condition_variable ended;  // a call ended, or close() finished
  std::unique_ptr<Database> db;   // null once closed
  bool closing = false;           // close() started: new calls are refused
  bool closed = false;            // close() finished
  uint64_t calls = 0;             // calls in flight (database and collection calls)
  std::unordered_map<Collection*, Use> live;  // handles returned to Python and not dropped
  // Serialises create/get/drop in this binding, so a collection being dropped is never
  // handed out again. Held only by those (never by reads or writes of points).
  std::mutex catalog_mu;
  std::string path;
  const uint64_t fork_generation = g_fork_generation.load();
  const pid_t pid = getpid();  // of the process that opened it

  // Whether this process is a fork() child of the one that opened the database.
  bool Inherited() const { return fork_generation != g_fork_generation.load(std::memory_order_relaxed); }

  ~DbState() {
    if (Inherited()) {  // The parent's: leaked, as closing it here would disturb the parent.
      (void)db.release();
      return;
    }
    // Last reference gone without close(): close now (saves checkpoints), without
    // holding the GIL if this thread has it (not during interpreter finalisation).
    if (db && Py_IsInitialized() && !IsFinalizing() && PyGILState_Check()) {
      PyThreadState* ts = PyEval_SaveThread();
      db.reset();
      PyEval_RestoreThread(ts);
    }
    db.reset();
  }
};

StatusError ClosedError(const std::string& path) {
  return StatusError(Status::FailedPrecondition("database " + path + " is closed"), StatusError::Kind::kClosed);
}

StatusError InheritedError(const DbState& s) {
  return StatusError(Status::FailedPrecondition("database " + s.path + " was opened in process " +
                                                std::to_string(s.pid) + " before fork(); this process (" +
                                                std::to_string(getpid()) +
                                                ") cannot use that handle: open the database again here "
                                                "(vectron.open), or use the 'spawn' start method"),
                     StatusError::Kind::kClosed);
}

StatusError DroppedError(const std::string& name) {
  return StatusError(Status::NotFound("collection '" + name + "' was dropped (or renamed)"));
}

// One call in flight on a database (col == nullptr) or on one of its collections: entered
// in the constructor (which throws if the database is closing or the collection is
// dropped), left in the destructor. REQUIRES: GIL released.
class CallScope {
 public:
  CallScope(DbState& s, Collection* col = nullptr, const std::string& name = {}, uint64_t use_id = 0)
      : s_(s), col_(col) {
    if (s_.Inherited()) throw InheritedError(s_);  // Before mu: a parent's thread may hold it.
    std::lock_guard l(s_.mu);
    if (s_.closing) throw ClosedError(s_.path);
    if (col_) {
      auto it = s_.live.find(col_);
      if (it == s_.live.end() || it->second.dropping || it->second.id != use_id) throw DroppedError(name);
      ++it->second.calls;
    }
    ++s_.calls;
  }
  ~CallScope() {
    std::lock_guard l(s_.mu);
    --s_.calls;
    if (col_) --s_.live.at(col_).calls;  // Present: a drop waits for this call.
    s_.ended.notify_all();
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  // The engine; valid while this call is in flight (close() waits for it).
  Database& db() const { return *s_.db; }

 private:
  DbState& s_;
  Collection* col_;
};

Metric ParseMetricOrThrow(const std::string& name) { return Unwrap(ParseMetric(name)); }


py::dict ConfigDict(const CollectionConfig& c) {
  py::dict d;
  d["dim"] = c.dim;
  d["metric"] = std::string(MetricName(c.metric));
  d["m"] = c.hnsw.m;
  d["ef_construction"] = c.hnsw.ef_construction;
  d["ef_search"] = c.hnsw.ef_search;
  d["seed"] = c.hnsw.seed;
  d["shards"] = c.shards;
  d["flat_max_points"] = c.flat_max_points;
  d["checkpoint_every_ops"] = c.checkpoint_every_ops;
  d["quantization"] = std::string(QuantizationName(c.quantization));
  return d;
}

py::array_t<float> VectorArray(const std::vector<float>& v) {
  return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
}

py::object OptionalStr(const std::string& s, bool wanted) {
  if (!wanted) return py::none();
  return py::str(s);
}

// (id, score, vector | None, metadata-json | None)
py::tuple HitTuple(const Hit& h, bool include_vector, bool include_metadata) {
  return py::make_tuple(py::str(h.id), h.score, include_vector ? py::object(VectorArray(h.vector)) : py::none(),
                        OptionalStr(h.metadata, include_metadata));
}

// (id, vector | None, metadata-json | None)
py::tuple PointTuple(const Point& p, const GetOptions& o) {
  return py::make_tuple(py::str(p.id), o.include_vector ? py::object(VectorArray(p.vector)) : py::none(),
                        OptionalStr(p.metadata, o.include_metadata));
}

// Decodes UTF-8 into UCS-4 code points (invalid bytes become U+FFFD). Returns the count.
size_t DecodeUtf8(std::string_view s, uint32_t* out) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 0x6) { cp = c & 0x1F; len = 2; }
    else if ((c >> 4) == 0xE) { cp = c & 0x0F; len = 3; }
    else if ((c >> 3) == 0x1E) { cp = c & 0x07; len = 4; }
    else { cp = 0xFFFD; len = 1; }
    if (len > 1) {
      if (i + len > s.size()) { cp = 0xFFFD; len = 1; }
      else {
        for (size_t j = 1; j < len; ++j) {
          unsigned char cc = static_cast<unsigned char>(s[i + j]);
          if ((cc >> 6) != 0x2) { cp = 0xFFFD; len = 1; break; }
          cp = (cp << 6) | (cc & 0x3F);
        }
      }
    }
    if (out) out[n] = cp;
    ++n;
    i += len;
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// Signals around writes. A write is all or nothing, and a signal (Ctrl-C) that arrives
// while the engine works with the GIL released is handled by Python only once the call
// returns. So a pending signal is handled here: before the write (then nothing is
// written) and after it (then all of it is), and its exception (KeyboardInterrupt) gets
// a note saying which. REQUIRES: GIL held.

void RaisePendingSignal(const std::string& note) {
  if (PyErr_CheckSignals() == 0) return;
  py::error_already_set e;  // Takes the handler's exception.
  if (py::hasattr(e.value(), "add_note")) e.value().attr("add_note")(note);  // Python >= 3.11
  throw e;
}

std::string Points(size_t n) { return std::to_string(n) + (n == 1 ? " point" : " points"); }

// ---------------------------------------------------------------------------------------
// Collection handle

class PyCollection {
 public:
  PyCollection(std::shared_ptr<DbState> state, Collection* col, uint64_t use_id)
      : state_(std::move(state)), col_(col), use_id_(use_id), name_(col->name()), config_(col->config()) {}

 private:
  // Runs f(collection) as a call in flight (see CallScope). REQUIRES: GIL released.
  template <typename F>
  auto With(F&& f) const {
    CallScope call(*state_, col_, name_, use_id_);
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

  // Whether the handle can still be used (database open, collection not dropped).
  bool valid() const {
    if (state_->Inherited()) return false;
    py::gil_scoped_release release;
    std::lock_guard lock(state_->mu);
    auto it = state_->live.find(col_);
    return !state_->closing && it != state_->live.end() && !it->second.dropping && it->second.id == use_id_;
  }

 private:
  std::shared_ptr<DbState> state_;
  Collection* col_;
  uint64_t use_id_;  // DbState::Use::id of the collection this handle was given
  std::string name_;
  CollectionConfig config_;
};

// ---------------------------------------------------------------------------------------
// Database handle

class PyDatabase {
 public:
  static std::unique_ptr<PyDatabase> Open(const std::string& path, bool create_if_missing,
                                          const std::string& durability, uint64_t map_size_bytes,
                                          unsigned threads) {
    DatabaseOptions o;
    o.create_if_missing = create_if_missing;
    o.durability = Unwrap(ParseDurability(durability));
    o.map_size_bytes = map_size_bytes;
    o.threads = threads;
    auto state = std::make_shared<DbState>();
    state->path = path;
    {
      py::gil_scoped_release release;
      state->db = Unwrap(Database::Open(path, o));
    }
    return std::unique_ptr<PyDatabase>(new PyDatabase(std::move(state)));
  }

  ~PyDatabase() = default;

  const std::string& path() const { return state_->path; }

  bool closed() const {
    if (state_->Inherited()) return true;  // Unusable here (see InheritedError).
    py::gil_scoped_release release;
    std::lock_guard lock(state_->mu);
    return state_->closing;
  }

  // Closes the database (saving index checkpoints). Idempotent. New calls are refused at
  // once; this waits only for the calls already running.
  void Close() {
    DbState& s = *state_;
    if (s.Inherited()) return;  // The parent's database: it stays open there.
    py::gil_scoped_release release;
    std::unique_lock lock(s.mu);
    if (s.closing) {  // Another close() is under way (or done): wait for it to finish.
      s.ended.wait(lock, [&] { return s.closed; });
      return;
    }
    s.closing = true;
    s.ended.wait(lock, [&] { return s.calls == 0; });
    s.live.clear();
    std::unique_ptr<Database> db = std::move(s.db);
    lock.unlock();
    db.reset();  // Saves checkpoints: outside mu.
    lock.lock();
    s.closed = true;
    s.ended.notify_all();
  }

  PyCollection CreateCollection(const std::string& name, const CollectionConfig& config,
                                const std::string& metadata = {}) {
    return Handout([&](Database& db) { return db.CreateCollection(name, config, metadata); });
  }

  PyCollection GetCollection(const std::string& name) {
    return Handout([&](Database& db) { return db.GetCollection(name); });
  }

  PyCollection GetOrCreateCollection(const std::string& name, const CollectionConfig& config) {
    return Handout([&](Database& db) { return db.GetOrCreateCollection(name, config); });
  }

  std::vector<std::string> ListCollections() {
    py::gil_scoped_release release;
    CallScope call(*state_);
    return Unwrap(call.db().ListCollections());
  }

  // Deletes the collection: its handles refuse new calls at once, and the drop waits for
  // the calls on it already running.
  void DropCollection(const std::string& name) {
    Retire(name, [&](Database& db) { return db.DropCollection(name); });
  }

  // Renames the collection; its handles are retired as by a drop (Python's
  // Collection.rename takes a new handle for itself).
  void RenameCollection(const std::string& from, const std::string& to) {
    Retire(from, [&](Database& db) { return db.RenameCollection(from, to); });
  }

  void SetCollectionMetadata(const std::string& name, const std::string& metadata) {
    py::gil_scoped_release release;
    CallScope call(*state_);
    Check(call.db().SetCollectionMetadata(name, metadata));
  }

  std::string GetCollectionMetadata(const std::string& name) {
    py::gil_scoped_release release;
    CallScope call(*state_);
    return Unwrap(call.db().GetCollectionMetadata(name));
  }

  // Runs `change` (a drop or a rename of collection `name`) once the calls on its live
  // handle ended, refusing new ones meanwhile; on success the handle is retired.
  template <typename F>
  void Retire(const std::string& name, F&& change) {
    py::gil_scoped_release release;
    DbState& s = *state_;
    CallScope call(s);
    std::lock_guard catalog(s.catalog_mu);
    Database& db = call.db();
    Collection* col = nullptr;
    if (auto existing = db.GetCollection(name); existing.ok()) col = *existing;
    if (col) {
      std::unique_lock lock(s.mu);
      if (auto it = s.live.find(col); it != s.live.end()) {
        DbState::Use& use = it->second;  // Element references survive rehashing.
        use.dropping = true;
        s.ended.wait(lock, [&] { return use.calls == 0; });
      }
    }
    Status done = change(db);
    if (col) {
      std::lock_guard lock(s.mu);
      if (auto it = s.live.find(col); it != s.live.end()) {
        if (done.ok()) s.live.erase(it);
        else it->second.dropping = false;
      }
    }
    Check(done);
  }

  void Sync() {
    py::gil_scoped_release release;
    CallScope call(*state_);
    Check(call.db().Sync());
  }

 private:
  explicit PyDatabase(std::shared_ptr<DbState> state) : state_(std::move(state)) {}

  // Runs open(db) (which returns a Result<Collection*>) as a call in flight, under
  // catalog_mu, and registers the collection as a live handle.
  template <typename F>
  PyCollection Handout(F&& open) {
    py::gil_scoped_release release;
    CallScope call(*state_);
    std::lock_guard catalog(state_->catalog_mu);
    Collection* c = Unwrap(open(call.db()));
    uint64_t use_id;
    {
      std::lock_guard lock(state_->mu);
      auto [it, added] = state_->live.try_emplace(c);
      if (added) it->second.id = state_->next_use_id++;
      use_id = it->second.id;
    }
    return PyCollection(state_, c, use_id);
  }

  std::shared_ptr<DbState> state_;
};

CollectionConfig MakeConfig(uint32_t dim, const std::string& metric, uint32_t m, uint32_t ef_construction,
                            uint32_t ef_search, uint64_t seed, uint32_t shards, uint64_t flat_max_points,
                            uint64_t checkpoint_every_ops, const std::string& quantization) {
  CollectionConfig c;
  Result<Quantization> q = ParseQuantization(quantization);
  if (!q.ok()) ThrowInvalid(q.status().message());
  c.quantization = *q;
  c.dim = dim;
  c.metric = ParseMetricOrThrow(metric);
  c.hnsw.m = m;
  c.hnsw.ef_construction = ef_construction;
  c.hnsw.ef_search = ef_search;
  c.hnsw.seed = seed;
  c.shards = shards;
  c.flat_max_points = flat_max_points;
  c.checkpoint_every_ops = checkpoint_every_ops;
  return c;
}

SearchParams MakeParams(int k, int ef, bool exact, bool include_vector, bool include_metadata,
                        const std::string& where, const std::string& strategy = "auto") {
  SearchParams p;
  p.k = k;
  p.ef = ef;
  p.exact = exact;
  p.include_vector = include_vector;
  p.include_metadata = include_metadata;
  p.where = where;
  p.filter_strategy = Unwrap(ParseFilterStrategy(strategy));
  return p;
}

}  // namespace

void ThrowStatus(Status s) { throw StatusError(std::move(s)); }

}  // namespace vectron::python

PYBIND11_MODULE(_vectron, m) {
  using namespace vectron;
  using namespace vectron::python;
  m.doc() = "Low-level binding of the Vectron engine. Use the `vectron` package instead.";

  LoadErrorClasses();
  pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      TranslateStatusError(e);
    }
  });

  m.attr("FORMAT_VERSION") = Database::kFormatVersion;
  m.attr("MAX_ID_BYTES") = kMaxIdBytes;
  m.attr("MAX_DIM") = kMaxDim;

  // The defaults of the engine's option structs, so the Python signatures take them from
  // here instead of re-typing the numbers.
  py::dict collection_defaults = ConfigDict(CollectionConfig{});
  collection_defaults.attr("pop")("dim");  // Required: no default.
  m.attr("COLLECTION_DEFAULTS") = collection_defaults;
  const DatabaseOptions db_defaults;
  py::dict database_defaults;
  database_defaults["create_if_missing"] = db_defaults.create_if_missing;
  database_defaults["durability"] = std::string(DurabilityName(db_defaults.durability));
  database_defaults["map_size_bytes"] = db_defaults.map_size_bytes;
  database_defaults["threads"] = db_defaults.threads;
  m.attr("DATABASE_DEFAULTS") = database_defaults;
  const SearchParams search_defaults;
  py::dict search;
  search["k"] = search_defaults.k;
  search["ef"] = search_defaults.ef;
  search["exact"] = search_defaults.exact;
  m.attr("SEARCH_DEFAULTS") = search;

  // Test hook: the address of the float32 buffer the binding would read for `a`, so tests
  // can check that a float32 C-contiguous array is passed without a copy.
  m.def("_buffer_address", [](const FloatArray& a) { return reinterpret_cast<uintptr_t>(a.data()); });

  py::class_<PyCollection>(m, "Collection")
      .def_property_readonly("name", &PyCollection::name)
      .def_property_readonly("dim", &PyCollection::dim)
      .def_property_readonly("config", &PyCollection::config)
      .def_property_readonly("valid", &PyCollection::valid)
      .def("upsert", &PyCollection::Upsert, py::arg("ids"), py::arg("vectors"), py::arg("metadata"))
      .def("delete", &PyCollection::Delete, py::arg("ids"))
      .def("delete_where", &PyCollection::DeleteWhere, py::arg("where"))
      .def(
          "search",
          [](const PyCollection& c, const FloatArray& q, int k, int ef, bool exact, bool iv, bool im,
             const std::string& where, const std::string& strategy) {
            return c.Search(q, MakeParams(k, ef, exact, iv, im, where, strategy));
          },
          py::arg("query"), py::arg("k"), py::arg("ef"), py::arg("exact"), py::arg("include_vector"),
          py::arg("include_metadata"), py::arg("where"), py::arg("filter_strategy"))
      .def(
          "search_batch",
          [](const PyCollection& c, const FloatArray& q, int k, int ef, bool exact, bool iv, bool im,
             const std::string& where, const std::string& strategy, unsigned threads) {
            return c.SearchBatch(q, MakeParams(k, ef, exact, iv, im, where, strategy), threads);
          },
          py::arg("queries"), py::arg("k"), py::arg("ef"), py::arg("exact"), py::arg("include_vector"),
          py::arg("include_metadata"), py::arg("where"), py::arg("filter_strategy"), py::arg("threads"))
      .def(
          "search_batch_numpy",
          [](const PyCollection& c, const FloatArray& q, int k, int ef, bool exact, const std::string& where,
             const std::string& strategy, unsigned threads) {
            return c.SearchBatchNumpy(q, MakeParams(k, ef, exact, false, false, where, strategy), threads);
          },
          py::arg("queries"), py::arg("k"), py::arg("ef"), py::arg("exact"), py::arg("where"),
          py::arg("filter_strategy"), py::arg("threads"))
      .def(
          "get",
          [](const PyCollection& c, const std::vector<std::string>& ids, bool iv, bool im) {
            return c.Get(ids, GetOptions{iv, im});
          },
          py::arg("ids"), py::arg("include_vector"), py::arg("include_metadata"))
      .def("count", &PyCollection::Count, py::arg("where"))
      .def("update", &PyCollection::Update, py::arg("op"), py::arg("ids"), py::arg("vectors"), py::arg("metadata"))
      .def(
          "list",
          [](const PyCollection& c, const std::string& where, size_t limit, uint64_t offset, bool iv, bool im) {
            return c.List(where, limit, offset, GetOptions{iv, im});
          },
          py::arg("where"), py::arg("limit"), py::arg("offset"), py::arg("include_vector"), py::arg("include_metadata"))
      .def(
          "scroll",
          [](const PyCollection& c, const std::string& cursor, size_t limit, bool iv, bool im, const std::string& where) {
            return c.Scroll(cursor, limit, GetOptions{iv, im}, where);
          },
          py::arg("cursor"), py::arg("limit"), py::arg("include_vector"), py::arg("include_metadata"), py::arg("where"))
      .def("create_payload_index", &PyCollection::CreatePayloadIndex, py::arg("field"), py::arg("type"))
      .def("drop_payload_index", &PyCollection::DropPayloadIndex, py::arg("field"))
      .def("list_payload_indexes", &PyCollection::ListPayloadIndexes)
      .def("stats", &PyCollection::Stats)
      .def("checkpoint", &PyCollection::Checkpoint)
      // Reranking and feedback: rerank_bindings.cc.
      .def(
          "feedback",
          [](const PyCollection& c, const std::string& id, int rating, const std::string& qid, const std::string& comment) {
            Feedback(c.Runner(), id, rating, qid, comment);
          },
          py::arg("point_id"), py::arg("rating"), py::arg("query_id"), py::arg("comment"))
      .def("feedback_stats", [](const PyCollection& c, const std::string& id) { return FeedbackStats(c.Runner(), id); },
           py::arg("point_id"))
      .def("export_feedback", [](const PyCollection& c) { return ExportFeedback(c.Runner()); })
      .def(
          "search_reranked",
          [](const PyCollection& c, const FloatArray& q, int k, int ef, bool exact, bool iv, bool im,
             const std::string& where, const std::string& strategy, int offset, const std::string& pipeline,
             const py::object& custom, double custom_weight, bool explain) {
            SearchParams sp = MakeParams(k, ef, exact, iv, im, where, strategy);
            sp.offset = offset;
            return SearchReranked(c.Runner(), q, sp, pipeline, custom, custom_weight, explain);
          },
          py::arg("query"), py::arg("k"), py::arg("ef"), py::arg("exact"), py::arg("include_vector"),
          py::arg("include_metadata"), py::arg("where"), py::arg("filter_strategy"), py::arg("offset"),
          py::arg("pipeline"), py::arg("custom"), py::arg("custom_weight"), py::arg("explain"))
      .def("set_default_rerank",
           [](const PyCollection& c, const std::string& json) { SetDefaultRerank(c.Runner(), json); },
           py::arg("pipeline"))
      .def("default_rerank", [](const PyCollection& c) { return DefaultRerank(c.Runner()); });

  py::class_<PyDatabase>(m, "Database")
      .def_static("open", &PyDatabase::Open, py::arg("path"), py::arg("create_if_missing"), py::arg("durability"),
                  py::arg("map_size_bytes"), py::arg("threads"))
      .def_property_readonly("path", &PyDatabase::path)
      .def_property_readonly("closed", &PyDatabase::closed)
      .def("close", &PyDatabase::Close)
      .def(
          "create_collection",
          [](PyDatabase& db, const std::string& name, uint32_t dim, const std::string& metric, uint32_t mm,
             uint32_t efc, uint32_t efs, uint64_t seed, uint32_t shards, uint64_t flat_max, uint64_t ckpt,
             const std::string& quant, const std::string& metadata) {
            return db.CreateCollection(name, MakeConfig(dim, metric, mm, efc, efs, seed, shards, flat_max, ckpt, quant),
                                       metadata);
          },
          py::arg("name"), py::arg("dim"), py::arg("metric"), py::arg("m"), py::arg("ef_construction"),
          py::arg("ef_search"), py::arg("seed"), py::arg("shards"), py::arg("flat_max_points"),
          py::arg("checkpoint_every_ops"), py::arg("quantization"), py::arg("metadata"))
      .def(
          "get_or_create_collection",
          [](PyDatabase& db, const std::string& name, uint32_t dim, const std::string& metric, uint32_t mm,
             uint32_t efc, uint32_t efs, uint64_t seed, uint32_t shards, uint64_t flat_max, uint64_t ckpt,
             const std::string& quant) {
            return db.GetOrCreateCollection(name, MakeConfig(dim, metric, mm, efc, efs, seed, shards, flat_max, ckpt, quant));
          },
          py::arg("name"), py::arg("dim"), py::arg("metric"), py::arg("m"), py::arg("ef_construction"),
          py::arg("ef_search"), py::arg("seed"), py::arg("shards"), py::arg("flat_max_points"),
          py::arg("checkpoint_every_ops"), py::arg("quantization"))
      .def("get_collection", &PyDatabase::GetCollection, py::arg("name"))
      .def("list_collections", &PyDatabase::ListCollections)
      .def("drop_collection", &PyDatabase::DropCollection, py::arg("name"))
      .def("rename_collection", &PyDatabase::RenameCollection, py::arg("old"), py::arg("new"))
      .def("set_collection_metadata", &PyDatabase::SetCollectionMetadata, py::arg("name"), py::arg("metadata"))
      .def("get_collection_metadata", &PyDatabase::GetCollectionMetadata, py::arg("name"))
      .def("sync", &PyDatabase::Sync);
}
