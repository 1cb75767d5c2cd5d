// What the handles of the _vectron extension share (module.cc, py_collection.h): the
// translation of a Status into its Python exception (StatusError, raised with the GIL
// released and translated once it is held again), the database state shared by a
// Database handle and its Collection handles (DbState), the count of calls in flight
// that close() waits for (CallScope), and the conversions of
// engine values to Python ones. Included by module.cc only (inline definitions).
#pragma once

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
#include <utility>
#include <vector>

#include "rerank_bindings.h"
#include "vectron/vectron.h"


namespace py = pybind11;

// Hidden, as pybind11's own types: the extension exports only its init function.
#pragma GCC visibility push(hidden)
namespace vectron::python {

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

inline void Check(Status s) {
  if (!s.ok()) throw StatusError(std::move(s));
}

template <typename T>
T Unwrap(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).value();
}

[[noreturn]] inline void ThrowInvalid(std::string message) {
  throw StatusError(Status::InvalidArgument(std::move(message)));
}

// Python exception classes by status code name, loaded from vectron.errors at import.
// Leaked on purpose: they must outlive interpreter finalisation order.
struct ErrorClasses {
  py::handle by_code[16];
  py::handle closed;
  py::handle base;
};
inline ErrorClasses* g_errors = nullptr;

inline void LoadErrorClasses() {
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

inline void TranslateStatusError(const StatusError& e) {
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

inline bool IsFinalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// Counts fork()s (pthread_atfork, in the child). A handle opened before a fork belongs to
// the parent: in the child its engine state (locks held by the parent's threads, LMDB
// environments) must not be touched, not even to close it.
inline std::atomic<uint64_t> g_fork_generation{0};

// Calls in flight on a database, counted so that close() waits for exactly those:
// close() refuses new calls at once (no stream of callers can starve it, as readers of a
// reader-preferring rwlock could) and then waits for the running ones, so that a closed
// database raises DatabaseClosedError. (A dropped or renamed collection needs nothing
// here: the engine's handle, a shared_ptr, then returns NotFound, and the drop waits for
// the calls on it.)
struct DbState {
  std::mutex mu;                  // guards the fields below; never held across an engine call
  std::condition_variable ended;  // a call ended, or close() finished
  std::unique_ptr<Database> db;   // null once closed
  bool closing = false;           // close() started: new calls are refused
  bool closed = false;            // close() finished
  uint64_t calls = 0;             // calls in flight (database and collection calls)
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

inline StatusError ClosedError(const std::string& path) {
  return StatusError(Status::FailedPrecondition("database " + path + " is closed"), StatusError::Kind::kClosed);
}

inline StatusError InheritedError(const DbState& s) {
  return StatusError(Status::FailedPrecondition("database " + s.path + " was opened in process " +
                                                std::to_string(s.pid) + " before fork(); this process (" +
                                                std::to_string(getpid()) +
                                                ") cannot use that handle: open the database again here "
                                                "(vectron.open), or use the 'spawn' start method"),
                     StatusError::Kind::kClosed);
}

// One call in flight on a database or on one of its collections: entered in the
// constructor (which throws if the database is closing), left in the destructor.
// REQUIRES: GIL released.
class CallScope {
 public:
  explicit CallScope(DbState& s) : s_(s) {
    if (s_.Inherited()) throw InheritedError(s_);  // Before mu: a parent's thread may hold it.
    std::lock_guard l(s_.mu);
    if (s_.closing) throw ClosedError(s_.path);
    ++s_.calls;
  }
  ~CallScope() {
    std::lock_guard l(s_.mu);
    --s_.calls;
    s_.ended.notify_all();
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  // The engine; valid while this call is in flight (close() waits for it).
  Database& db() const { return *s_.db; }

 private:
  DbState& s_;
};

inline Metric ParseMetricOrThrow(const std::string& name) { return Unwrap(ParseMetric(name)); }


inline py::dict ConfigDict(const CollectionConfig& c) {
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

inline py::array_t<float> VectorArray(const std::vector<float>& v) {
  return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
}

inline py::object OptionalStr(const std::string& s, bool wanted) {
  if (!wanted) return py::none();
  return py::str(s);
}

// (id, score, vector | None, metadata-json | None)
inline py::tuple HitTuple(const Hit& h, bool include_vector, bool include_metadata) {
  return py::make_tuple(py::str(h.id), h.score, include_vector ? py::object(VectorArray(h.vector)) : py::none(),
                        OptionalStr(h.metadata, include_metadata));
}

// (id, vector | None, metadata-json | None)
inline py::tuple PointTuple(const Point& p, const GetOptions& o) {
  return py::make_tuple(py::str(p.id), o.include_vector ? py::object(VectorArray(p.vector)) : py::none(),
                        OptionalStr(p.metadata, o.include_metadata));
}

// Decodes UTF-8 into UCS-4 code points (invalid bytes become U+FFFD). Returns the count.
inline size_t DecodeUtf8(std::string_view s, uint32_t* out) {
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

inline void RaisePendingSignal(const std::string& note) {
  if (PyErr_CheckSignals() == 0) return;
  py::error_already_set e;  // Takes the handler's exception.
  if (py::hasattr(e.value(), "add_note")) e.value().attr("add_note")(note);  // Python >= 3.11
  throw e;
}

inline std::string Points(size_t n) { return std::to_string(n) + (n == 1 ? " point" : " points"); }


}  // namespace vectron::python
#pragma GCC visibility pop
