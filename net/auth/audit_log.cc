#include "net/auth/audit_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <cstring>
#include <ctime>
#include <vector>

#include "storage/lmdb.h"
#include "util/files.h"
#include "util/untrusted_json.h"

namespace vectron::net {

using nlohmann::json;

namespace {

constexpr std::string_view kFormatVersion = "1";
constexpr size_t kTrimPerAppendMax = 1000;  // Bounds the work one append does.

std::string SeqKey(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return k;
}

uint64_t SeqOf(std::string_view k) {
  uint64_t s = 0;
  for (char c : k) s = (s << 8) | static_cast<unsigned char>(c);
  return s;
}

// `s` cut to at most `max` bytes at a UTF-8 boundary, marked with "…" when cut.
std::string Cut(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max - 3;  // Room for the 3-byte "…".
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "\xE2\x80\xA6";
}


int64_t TsOf(std::string_view value) {
  json e = json::parse(value, nullptr, false);
  auto it = e.is_object() ? e.find("ts") : e.end();
  return it != e.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

json BoundAuditValue(const json& v, int depth) {
  if (v.is_string()) return Cut(v.get_ref<const std::string&>(), kAuditStringMax);
  if (!v.is_structured()) return v;
  if (depth >= 3) return "\xE2\x80\xA6";
  json out = v.is_array() ? json::array() : json::object();
  size_t n = 0;
  for (auto it = v.begin(); it != v.end(); ++it, ++n) {
    if (n == kAuditItemsMax) {
      std::string more = "+" + std::to_string(v.size() - n) + " more";
      if (v.is_array()) out.push_back(std::move(more));
      else out["\xE2\x80\xA6"] = std::move(more);
      break;
    }
    if (v.is_array()) out.push_back(BoundAuditValue(*it, depth + 1));
    else out[Cut(it.key(), kAuditStringMax)] = BoundAuditValue(*it, depth + 1);
  }
  return out;
}

Status AuditOptions::Validate() const {
  if (dir.empty()) return Status::InvalidArgument("audit log directory must not be empty");
  if (max_bytes < (uint64_t{64} << 10)) return Status::InvalidArgument("audit max_bytes must be at least 64 KiB");
  if (max_bytes > (uint64_t{1} << 40)) return Status::InvalidArgument("audit max_bytes must be at most 1 TiB");
  if (max_age_s < 0) return Status::InvalidArgument("audit max_age_s must not be negative");
  return Status::OK();
}

struct AuditLog::Impl {
  AuditOptions options;
  std::optional<storage::LmdbEnv> env;
  storage::Dbi events, meta;

  int64_t Now() const { return options.now_s ? options.now_s() : static_cast<int64_t>(std::time(nullptr)); }

  // One bounded record: {"seq", "ts", "event", "user", "peer", "detail"}.
  static std::string Record(uint64_t seq, int64_t ts, std::string_view event, std::string_view user,
                            std::string_view peer, const json& detail) {
    json e = {{"seq", seq},
              {"ts", ts},
              {"event", Cut(event, kAuditStringMax)},
              {"user", Cut(user, kAuditStringMax)},
              {"peer", Cut(peer, kAuditStringMax)},
              {"detail", BoundAuditValue(detail.is_object() ? detail : json::object())}};
    std::string text = DumpJson(e);
    if (text.size() > kAuditRecordMax) {
      e["detail"] = {{"cut", true}};
      text = DumpJson(e);
    }
    return text;
  }

  static Result<uint64_t> Bytes(storage::Txn& t, storage::Dbi meta) {
    VECTRON_ASSIGN_OR_RETURN(auto v, t.Get(meta, "bytes"));
    if (!v) return uint64_t{0};
    return static_cast<uint64_t>(std::strtoull(std::string(*v).c_str(), nullptr, 10));
  }

  // Deletes the oldest events while they are older than max_age_s or the log would
  // exceed max_bytes with `incoming` more bytes. Returns the bytes left.
  Result<uint64_t> Trim(storage::WriteTxn& wt, uint64_t bytes, uint64_t incoming) {
    const int64_t oldest_kept = options.max_age_s ? Now() - options.max_age_s : INT64_MIN;
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(events));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    for (size_t n = 0; more && n < kTrimPerAppendMax; ++n) {
      const uint64_t size = c.key().size() + c.value().size();
      if (bytes + incoming <= options.max_bytes && TsOf(c.value()) >= oldest_kept) break;
      VECTRON_RETURN_IF_ERROR(c.Delete());
      bytes -= std::min(bytes, size);
      // After a delete LMDB leaves the cursor on the next entry; re-read it.
      VECTRON_ASSIGN_OR_RETURN(more, c.First());
    }
    return bytes;
  }

  Status AppendOnce(std::string_view event, std::string_view user, std::string_view peer, const json& detail) {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*env));
    uint64_t seq = 1;
    {
      VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(events));
      VECTRON_ASSIGN_OR_RETURN(bool any, c.Last());
      if (any) seq = SeqOf(c.key()) + 1;
    }
    const std::string key = SeqKey(seq), value = Record(seq, Now(), event, user, peer, detail);
    VECTRON_ASSIGN_OR_RETURN(uint64_t bytes, Bytes(wt, meta));
    VECTRON_ASSIGN_OR_RETURN(bytes, Trim(wt, bytes, key.size() + value.size()));
    VECTRON_RETURN_IF_ERROR(wt.Put(events, key, value));
    VECTRON_RETURN_IF_ERROR(wt.Put(meta, "bytes", std::to_string(bytes + key.size() + value.size())));
    return std::move(wt).Commit();
  }

  // Deletes the oldest quarter of the events (room after a full map).
  Status DropOldestQuarter() {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*env));
    VECTRON_ASSIGN_OR_RETURN(uint64_t count, wt.Count(events));
    VECTRON_ASSIGN_OR_RETURN(uint64_t bytes, Bytes(wt, meta));
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(events));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    for (uint64_t n = 0; more && n < std::max<uint64_t>(1, count / 4); ++n) {
      bytes -= std::min<uint64_t>(bytes, c.key().size() + c.value().size());
      VECTRON_RETURN_IF_ERROR(c.Delete());
      VECTRON_ASSIGN_OR_RETURN(more, c.First());
    }
    VECTRON_RETURN_IF_ERROR(wt.Put(meta, "bytes", std::to_string(bytes)));
    return std::move(wt).Commit();
  }

  Status OpenEnv(const std::string& dir, uint64_t map_size_bytes) {
    storage::EnvOptions eo;
    eo.map_size_bytes = map_size_bytes;
    eo.max_dbs = 4;
    VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv e, storage::LmdbEnv::Open(dir, eo));
    env.emplace(std::move(e));
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*env));
    VECTRON_ASSIGN_OR_RETURN(events, wt.OpenDbi("events"));
    VECTRON_ASSIGN_OR_RETURN(meta, wt.OpenDbi("meta"));
    VECTRON_ASSIGN_OR_RETURN(auto version, wt.Get(meta, "format_version"));
    if (version && *version != kFormatVersion)
      return Status::FailedPrecondition("audit log " + dir + " has format version " + std::string(*version) +
                                        ", this build reads " + std::string(kFormatVersion));
    if (!version) VECTRON_RETURN_IF_ERROR(wt.Put(meta, "format_version", kFormatVersion));
    return std::move(wt).Commit();
  }
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditOptions& options) {
  VECTRON_RETURN_IF_ERROR(options.Validate());
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IOError(options.dir + ": " + std::strerror(errno));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  // LMDB needs room beyond the live events: copy-on-write pages of a transaction, the
  // free list and half-full pages. Four times the budget is far more than that.
  VECTRON_RETURN_IF_ERROR(impl->OpenEnv(options.dir, options.max_bytes * 4 + (uint64_t{16} << 20)));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

Result<std::unique_ptr<AuditLog>> AuditLog::OpenExisting(const std::string& dir) {
  if (!PathExists(dir + "/data.mdb")) return Status::NotFound("no audit log in " + dir);
  auto impl = std::make_unique<Impl>();
  impl->options.dir = dir;
  VECTRON_RETURN_IF_ERROR(impl->OpenEnv(dir, uint64_t{1} << 30));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

Status AuditLog::Append(std::string_view event, std::string_view user, std::string_view peer, const json& detail) {
  Status st = impl_->AppendOnce(event, user, peer, detail);
  if (st.code() != StatusCode::kResourceExhausted) return st;
  // The map is full after all (a smaller max_bytes than the log was written with):
  // make room rather than stop auditing.
  VECTRON_RETURN_IF_ERROR(impl_->DropOldestQuarter());
  return impl_->AppendOnce(event, user, peer, detail);
}

Result<bool> AuditLog::Imported(const std::string& marker) const {
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*impl_->env));
  VECTRON_ASSIGN_OR_RETURN(auto v, rt.Get(impl_->meta, marker));
  return v.has_value();
}

Status AuditLog::Import(const std::vector<std::string>& records, const std::string& marker) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(auto done, wt.Get(m.meta, marker));
  if (done) return Status::OK();
  VECTRON_ASSIGN_OR_RETURN(uint64_t bytes, Impl::Bytes(wt, m.meta));
  uint64_t seq = 1;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(m.events));
    VECTRON_ASSIGN_OR_RETURN(bool any, c.Last());
    if (any) seq = SeqOf(c.key()) + 1;
  }
  for (const std::string& r : records) {
    json e = json::parse(r, nullptr, false);
    if (!e.is_object()) continue;
    auto str = [&](const char* k) {
      auto it = e.find(k);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto ts = e.find("ts");
    auto detail = e.find("detail");
    const std::string key = SeqKey(seq);
    const std::string value = Impl::Record(seq, ts != e.end() && ts->is_number_integer() ? ts->get<int64_t>() : 0,
                                           str("event"), str("user"), str("peer"),
                                           detail != e.end() ? *detail : json::object());
    VECTRON_ASSIGN_OR_RETURN(bytes, m.Trim(wt, bytes, key.size() + value.size()));
    VECTRON_RETURN_IF_ERROR(wt.Put(m.events, key, value));
    bytes += key.size() + value.size();
    ++seq;
  }
  VECTRON_RETURN_IF_ERROR(wt.Put(m.meta, "bytes", std::to_string(bytes)));
  VECTRON_RETURN_IF_ERROR(wt.Put(m.meta, marker, "1"));
  return std::move(wt).Commit();
}

Result<AuditPage> AuditLog::Read(const AuditQuery& q) const {
  AuditPage page;
  if (q.limit == 0) return page;
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*impl_->env));
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(impl_->events));
  bool at = false;
  if (q.cursor == 0) {
    VECTRON_ASSIGN_OR_RETURN(at, c.Last());
  } else {
    VECTRON_ASSIGN_OR_RETURN(at, c.Seek(SeqKey(q.cursor)));
    if (!at) {
      VECTRON_ASSIGN_OR_RETURN(at, c.Last());
    } else if (SeqOf(c.key()) > q.cursor) {
      VECTRON_ASSIGN_OR_RETURN(at, c.Prev());
    }
  }
  size_t bytes = 0;
  for (; at; ) {
    const uint64_t seq = SeqOf(c.key());
    if (page.events.size() == q.limit || (!page.events.empty() && bytes + c.value().size() > q.max_bytes)) {
      page.next_cursor = seq;
      break;
    }
    json e = json::parse(c.value(), nullptr, false);
    if (e.is_object()) {
      auto ts = e.find("ts");
      if (q.since_s && (ts == e.end() || !ts->is_number_integer() || ts->get<int64_t>() < q.since_s)) break;
      bytes += c.value().size();
      page.events.push_back(std::move(e));
    }
    VECTRON_ASSIGN_OR_RETURN(at, c.Prev());
  }
  return page;
}

Result<uint64_t> AuditLog::StoredBytes() const {
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*impl_->env));
  return Impl::Bytes(rt, impl_->meta);
}

}  // namespace vectron::net
