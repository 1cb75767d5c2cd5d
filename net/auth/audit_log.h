// The audit log of `vectron serve`: auth events (logins, keys, users, grants, signing
// keys) in their own LMDB environment (DATA/audit/), apart from the credential store, so
// that no amount of logging can fill or block it. Every record is bounded (strings
// truncated, 4 KiB at most) and the log is trimmed by age and size as it grows.
// Layout in docs/formats/auth.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

struct AuditOptions {
  std::string dir;  // LMDB environment directory (created, mode 0700, if missing).
  // The oldest events are deleted once the events take more than this (keys and JSON
  // values). The LMDB map is sized from it, so the log never fills its map.
  uint64_t max_bytes = uint64_t{64} << 20;
  // Events older than this are deleted as new ones arrive. 0: kept until max_bytes.
  int64_t max_age_s = int64_t{90} * 86400;
  // Unix time in seconds (injectable for tests).
  std::function<int64_t()> now_s;

  // Errors: InvalidArgument naming the option.
  Status Validate() const;
};

// Limits of one record: strings in it are cut to kAuditStringMax bytes, arrays and
// objects to kAuditItemsMax entries; a record still larger than kAuditRecordMax keeps
// only its event, user, peer and a note that its detail was cut.
inline constexpr size_t kAuditStringMax = 256;
inline constexpr size_t kAuditItemsMax = 16;
inline constexpr size_t kAuditRecordMax = 4096;

struct AuditQuery {
  size_t limit = 100;          // At most this many events (REQUIRES: >= 1).
  uint64_t cursor = 0;         // Start at this seq and go back (0: the newest event).
  int64_t since_s = 0;         // Stop at the first event older than this (0: no bound).
  size_t max_bytes = 1 << 20;  // Stop once the page's events take this many bytes.
};

struct AuditPage {
  nlohmann::json events = nlohmann::json::array();  // Newest first.
  uint64_t next_cursor = 0;                           // 0: no older event (within since_s).
};

// Thread-safe. Several processes may open the same log (LMDB serialises the writers).
class AuditLog {
 public:
  // Opens or creates the log. Errors: InvalidArgument (options), those of LMDB.
  static Result<std::unique_ptr<AuditLog>> Open(const AuditOptions& options);
  // Opens an existing log for reading (`vectron audit`): NotFound if `dir` holds none.
  static Result<std::unique_ptr<AuditLog>> OpenExisting(const std::string& dir);
  ~AuditLog();

  // Appends {"seq", "ts", "event", "user", "peer", "detail"}, bounded as above, and trims
  // the oldest events past max_age_s or max_bytes in the same transaction.
  // Errors: those of LMDB (after one retry that first trims a quarter of the log).
  Status Append(std::string_view event, std::string_view user, std::string_view peer,
                const nlohmann::json& detail = nlohmann::json::object());
  // Appends records of an older store (each a JSON object with "ts", "event", "user",
  // "peer", "detail"), oldest first, bounded as Append's, in one transaction; they get
  // new seqs. Used once by the auth store's migration; `marker` is set in the same
  // transaction and Imported(marker) tells whether that happened.
  Status Import(const std::vector<std::string>& records, const std::string& marker);
  Result<bool> Imported(const std::string& marker) const;
  // One page of events, newest first (see AuditQuery).
  Result<AuditPage> Read(const AuditQuery& query) const;
  // Bytes the stored events take (what max_bytes bounds).
  Result<uint64_t> StoredBytes() const;

  struct Impl;

 private:
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A bounded copy of `v` for an audit record: strings cut to kAuditStringMax bytes (at a
// UTF-8 boundary, marked with "…"), arrays and objects to kAuditItemsMax entries,
// nesting below three levels replaced by "…".
nlohmann::json BoundAuditValue(const nlohmann::json& v, int depth = 0);

}  // namespace vectron::net
