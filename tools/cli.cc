#include "cli.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "net/server.h"

namespace vectron::tools {

const std::string& DefaultDbDir() {
  static const std::string kDir = net::ServeOptions{}.data_dir;
  return kDir;
}

void AddDbOption(CLI::App* cmd, std::string* dir, bool required) {
  if (required) {
    dir->clear();
    cmd->add_option("--db", *dir, "Data directory (required)");
  } else {
    *dir = DefaultDbDir();
    cmd->add_option("--db", *dir, "Database directory")->capture_default_str();
  }
  // Earlier versions called it --data; an empty group hides it from --help.
  cmd->add_option("--data", *dir, "Old spelling of --db")->group("");
}

Status RequireDbDir(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("--db DIR is required (the node's data directory)");
  return Status::OK();
}

int Fail(const Status& s) {
  CliProgress().Finish();
  std::fprintf(stderr, "vectron: %s\n", s.ToString().c_str());
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kCancelled: return 130;
    default: return 1;
  }
}

Progress& CliProgress() {
  static Progress progress;
  return progress;
}

Result<std::unique_ptr<Database>> OpenDb(const std::string& dir, Durability durability) {
  DatabaseOptions o;
  o.durability = durability;
  o.progress = [](std::string_view stage, uint64_t done, uint64_t total) {
    return CliProgress().Update(stage, done, total);
  };
  return Database::Open(dir, o);
}

Result<std::vector<std::string>> OneOrAllCollections(
    const std::string& name, const std::function<Result<std::vector<std::string>>()>& list_all) {
  if (!name.empty()) return std::vector<std::string>{name};
  VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> all, list_all());
  std::sort(all.begin(), all.end());
  return all;
}

Result<Durability> ParseDurabilityOption(const std::string& text) {
  auto d = ParseDurability(text);
  if (!d.ok()) return d.status().WithContext("--durability");
  return d;
}

std::string DefaultDurabilityName() { return std::string(DurabilityName(DatabaseOptions{}.durability)); }

Result<std::vector<float>> ParseVector(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Status::InvalidArgument("--vector must be a JSON array of numbers");
  std::vector<float> v;
  for (auto& x : j) {
    if (!x.is_number()) return Status::InvalidArgument("--vector must be a JSON array of numbers");
    v.push_back(x.get<float>());
  }
  return v;
}

namespace {

// Comma-separated numbers, each read whole by `convert` (std::stoi, std::stod).
template <typename T, typename Convert>
Result<std::vector<T>> ParseList(const std::string& text, const std::string& option, const char* kind,
                                 Convert convert) {
  std::vector<T> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    size_t used = 0;
    T v{};
    try {
      v = convert(part, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != part.size())
      return Status::InvalidArgument(option + " must be comma-separated " + kind + ", got \"" + part + "\"");
    out.push_back(v);
  }
  if (out.empty()) return Status::InvalidArgument(option + " must name at least one number");
  return out;
}

}  // namespace

Result<std::vector<int>> ParseIntList(const std::string& text, const std::string& option) {
  return ParseList<int>(text, option, "integers", [](const std::string& s, size_t* used) { return std::stoi(s, used); });
}

Result<std::vector<double>> ParseNumberList(const std::string& text, const std::string& option) {
  return ParseList<double>(text, option, "numbers", [](const std::string& s, size_t* used) { return std::stod(s, used); });
}

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

void AddPortLimitFlags(CLI::App* cmd, net::PortLimits* limits) {
  cmd->add_option("--max-body-bytes", limits->http.max_body_bytes, "Largest HTTP request body (413 past it)")
      ->capture_default_str();
  cmd->add_option("--max-discard-bytes", limits->http.max_discard_bytes,
                  "Body bytes of a refused request (413, 401, ...) read and dropped after its answer, so a client "
                  "still sending reads the answer; past it the connection is cut")
      ->capture_default_str();
  cmd->add_option("--max-header-bytes", limits->http.max_header_bytes, "Largest request line + headers (431 past it)")
      ->capture_default_str();
  cmd->add_option("--idle-timeout-ms", limits->http.idle_timeout_ms, "Close idle keep-alive connections after this")
      ->capture_default_str();
  cmd->add_option("--request-timeout-ms", limits->http.request_timeout_ms,
                  "A request (or RPC frame) must arrive completely within this (408 past it)")
      ->capture_default_str();
  cmd->add_option("--max-connections", limits->max_connections,
                  "Open connections (all of this process's client ports together) past which new ones are refused "
                  "(0 = no cap)")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-ip", limits->max_connections_per_ip,
                  "Open connections from one client address past which its new ones are refused (0 = no cap)")
      ->capture_default_str();
  cmd->add_option("--tls-handshake-timeout-ms", limits->tls_handshake_timeout_ms,
                  "A TLS handshake not done within this from the connection's accept is cut")
      ->capture_default_str();
}

}  // namespace vectron::tools
