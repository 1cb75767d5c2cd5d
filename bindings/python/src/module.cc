// _vectron: the pybind11 extension under the `vectron` Python package.
//
// This layer is deliberately thin: it converts arguments, releases the GIL around every
// engine call, and turns a non-OK Status into the Python exception class of its code
// (classes defined in vectron/errors.py, the one translation table of this edge). The
// friendly API (Hit objects, dict metadata, include=...) lives in vectron/__init__.py.
//
// Lifetime: a Database handle owns a shared DbState; Collection handles share it and
// hold the engine's collection handle (a shared_ptr<Collection>, safe to call after a
// drop, a rename or the Database's end). Every engine call is counted while in flight
// (CallScope); close() refuses new calls at once and waits for the counted ones, so later
// calls raise DatabaseClosedError, and no stream of callers delays it. drop_collection
// and rename_collection rely on the engine: they wait for the calls on the collection
// in flight, and later calls on its handles raise NotFoundError.
//
// Lock order: release the GIL first, then DbState::mu, which is never held across an
// engine call.
//
// Files: binding_common.h (errors, DbState, CallScope, conversions), py_collection.h (the
// Collection handle), rerank_bindings.cc (reranking and feedback), and this one: the
// Database handle and the module's bindings.

#include "binding_common.h"
#include "py_collection.h"

namespace vectron::python {
namespace {

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

  // Deletes the collection: its handles refuse new calls at once (NotFoundError), and
  // the drop waits for the calls on it already running (the engine's handles do both).
  void DropCollection(const std::string& name) {
    py::gil_scoped_release release;
    CallScope call(*state_);
    Check(call.db().DropCollection(name));
  }

  // Renames the collection; its handles are closed as by a drop (Python's
  // Collection.rename takes a new handle for itself).
  void RenameCollection(const std::string& from, const std::string& to) {
    py::gil_scoped_release release;
    CallScope call(*state_);
    Check(call.db().RenameCollection(from, to));
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

  void Sync() {
    py::gil_scoped_release release;
    CallScope call(*state_);
    Check(call.db().Sync());
  }

 private:
  explicit PyDatabase(std::shared_ptr<DbState> state) : state_(std::move(state)) {}

  // Runs open(db) (which returns a Result<shared_ptr<Collection>>) as a call in flight
  // and wraps the handle it returns.
  template <typename F>
  PyCollection Handout(F&& open) {
    py::gil_scoped_release release;
    CallScope call(*state_);
    return PyCollection(state_, Unwrap(open(call.db())));
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
      .def("export_feedback_page",
           [](const PyCollection& c, const std::string& cursor, size_t limit) {
             return ExportFeedbackPage(c.Runner(), cursor, limit);
           })
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
