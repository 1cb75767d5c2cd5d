// `vectron backup` and `vectron audit`: the parts of a data directory that belong to
// `vectron serve` (auth store, audit log, TLS certificate), handled from the CLI.
#pragma once

#include <cstdint>
#include <string>

#include "vectron/database.h"

namespace vectron::tools {

// Database::Backup of `db` (opened on `data_dir`) plus the serve state (auth, audit,
// tls), all into a temp directory renamed to `dest` at the end, so a failed backup never
// leaves something that looks complete. Errors: AlreadyExists (dest), those of the copies.
Status BackupAll(Database& db, const std::string& data_dir, const std::string& dest);

struct AuditCliOptions {
  std::string data_dir = "./vectron-data";
  size_t limit = 100;   // Events shown, newest first.
  std::string since;    // Unix seconds, or an age: 30m, 12h, 7d ("" = all).
  uint64_t cursor = 0;  // Start at this seq (a previous page's next cursor).
  bool json = false;    // One JSON object per line.
};

// Prints audit events of DATA/audit/ (also while a server runs) and returns the exit code.
int RunAudit(const AuditCliOptions& options);

}  // namespace vectron::tools
