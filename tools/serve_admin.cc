#include "serve_admin.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "net/auth/audit_log.h"
#include "net/server.h"
#include "util/files.h"
#include "util/untrusted_json.h"

namespace vectron::tools {

using nlohmann::json;

Status BackupAll(Database& db, const std::string& data_dir, const std::string& dest) {
  if (dest.empty()) return Status::InvalidArgument("backup path is empty");
  if (PathExists(dest)) return Status::AlreadyExists("backup destination " + dest + " exists; give a new directory");
  const std::string partial = dest + ".partial-serve-" + std::to_string(std::random_device{}());
  Status s = db.Backup(partial);
  if (s.ok()) s = net::BackupServeState(data_dir, partial);
  if (s.ok()) s = FsyncPath(partial);
  if (s.ok()) s = RenamePath(partial, dest);
  if (!s.ok()) (void)RemoveAll(partial);
  return s;
}

namespace {

// "1733130000" (Unix seconds) or an age "30m", "12h", "7d" before now.
Result<int64_t> ParseSince(const std::string& text, int64_t now) {
  if (text.empty()) return int64_t{0};
  size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0 || text.size() > 18) return Status::InvalidArgument("--since must be Unix seconds or 30m/12h/7d");
  int64_t n = std::stoll(text.substr(0, digits));
  if (digits == std::string::npos) return n;
  std::string unit = text.substr(digits);
  int64_t mul = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (!mul) return Status::InvalidArgument("--since must be Unix seconds or an age such as 30m, 12h or 7d");
  return now - n * mul;
}

std::string IsoTime(int64_t ts) {
  time_t t = static_cast<time_t>(ts);
  tm g;
  gmtime_r(&t, &g);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &g);
  return buf;
}

}  // namespace

int RunAudit(const AuditCliOptions& o) {
  auto since = ParseSince(o.since, static_cast<int64_t>(std::time(nullptr)));
  if (!since.ok()) {
    std::fprintf(stderr, "vectron: %s\n", since.status().ToString().c_str());
    return 2;
  }
  if (o.limit == 0) {
    std::fprintf(stderr, "vectron: --limit must be at least 1\n");
    return 2;
  }
  auto log = net::AuditLog::OpenExisting(o.data_dir + "/audit");
  if (!log.ok()) {
    std::fprintf(stderr, "vectron: %s%s\n", log.status().ToString().c_str(),
                 ::access((o.data_dir + "/auth/data.mdb").c_str(), F_OK) == 0
                     ? " (an auth store of an older version keeps its audit inside: start `vectron serve` once to "
                       "move it)"
                     : " (has `vectron serve` with auth run on this directory?)");
    return 3;
  }
  net::AuditQuery q;
  q.limit = o.limit;
  q.cursor = o.cursor;
  q.since_s = *since;
  q.max_bytes = SIZE_MAX;  // A terminal, not a response: --limit bounds it.
  auto page = (*log)->Read(q);
  if (!page.ok()) {
    std::fprintf(stderr, "vectron: %s\n", page.status().ToString().c_str());
    return 1;
  }
  for (const json& e : page->events) {
    if (o.json) {
      std::printf("%s\n", DumpJson(e).c_str());
      continue;
    }
    std::string detail = DumpJson(e.value("detail", json::object()));
    std::printf("%llu\t%s\t%s\tuser=%s\tpeer=%s\t%s\n", static_cast<unsigned long long>(e.value("seq", uint64_t{0})),
                IsoTime(e.value("ts", int64_t{0})).c_str(), e.value("event", "").c_str(), e.value("user", "").c_str(),
                e.value("peer", "").c_str(), detail.c_str());
  }
  if (page->next_cursor)
    std::fprintf(stderr, "vectron: more events: --cursor %llu\n", static_cast<unsigned long long>(page->next_cursor));
  return 0;
}

}  // namespace vectron::tools
