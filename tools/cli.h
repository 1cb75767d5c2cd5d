// Shared pieces of the `vectron` command-line tool: how a subcommand is registered and
// run, exit codes, opening the database directory, and small parsers. Each group of
// subcommands lives in its own file (cmd_*.cc) with one options struct and one Run
// function per subcommand; defaults come from the library's own structs.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/http/http_server.h"
#include "progress.h"
#include "vectron/vectron.h"

namespace vectron::tools {

// A subcommand: its CLI11 app (owned by the parent app) and what runs when it was given.
// `run` returns the process exit code.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

// Registers `name` under `parent` with an options struct of type T, default-constructed
// (so its defaults are the struct's). `add` binds the options; `run` executes them.
template <typename T>
CLI::App* AddCommand(CLI::App& parent, Commands& out, const std::string& name, const std::string& help,
                     const std::function<void(CLI::App*, T&)>& add, int (*run)(const T&)) {
  auto options = std::make_shared<T>();
  CLI::App* cmd = parent.add_subcommand(name, help);
  add(cmd, *options);
  out.push_back({cmd, [options, run] { return run(*options); }});
  return cmd;
}

// The database directory when --db is not given: the server's default.
const std::string& DefaultDbDir();

// Adds `--db DIR` (the database directory, default DefaultDbDir()) to `cmd`. The
// spelling `--data` of earlier versions is accepted too, hidden from --help. With
// `required` there is no default (`*dir` stays empty unless given): the command checks
// RequireDbDir, so that two daemons never share a directory by default.
void AddDbOption(CLI::App* cmd, std::string* dir, bool required = false);
// InvalidArgument "--db DIR is required" if `dir` is empty.
Status RequireDbDir(const std::string& dir);

// Prints "vectron: <status>" on stderr and returns the exit code for it:
// InvalidArgument 2, NotFound 3, Cancelled 130, anything else 1.
int Fail(const Status& s);

// The progress line shared by every command (stderr; stops on Ctrl-C).
Progress& CliProgress();

// Opens (creating if missing) the database in `dir`, reporting index builds on the
// progress line. Errors: those of Database::Open.
Result<std::unique_ptr<Database>> OpenDb(const std::string& dir, Durability durability = Durability::kFull);

// The collections a command given an optional collection name works on: `name` alone if
// not empty, else every collection `list_all` returns, sorted (list_all is then called once).
Result<std::vector<std::string>> OneOrAllCollections(const std::string& name,
                                                     const std::function<Result<std::vector<std::string>>()>& list_all);

// Adds the flags of a public port's limits (--max-body-bytes, --max-header-bytes,
// --idle-timeout-ms, --request-timeout-ms, --max-connections, --max-connections-per-ip,
// --tls-handshake-timeout-ms), defaults from PortLimits; `vectron serve` and the gateway.
void AddPortLimitFlags(CLI::App* cmd, net::PortLimits* limits);

// The name of DatabaseOptions' default durability (the default of --durability).
std::string DefaultDurabilityName();
// ParseDurability (vectron/options.h) of a --durability value, naming the option.
Result<Durability> ParseDurabilityOption(const std::string& text);
// A JSON array of numbers. Errors: InvalidArgument naming --vector.
Result<std::vector<float>> ParseVector(const std::string& text);
// Comma-separated integers (e.g. --ef 16,32,64). Errors: InvalidArgument naming `option`.
Result<std::vector<int>> ParseIntList(const std::string& text, const std::string& option);
// Comma-separated numbers (e.g. --selectivity 0.5,0.1). Errors: InvalidArgument naming `option`.
Result<std::vector<double>> ParseNumberList(const std::string& text, const std::string& option);
// 1536 -> "1.5 KiB".
std::string FormatBytes(uint64_t bytes);

// Registration of each group of subcommands (cmd_*.cc).
void AddAuditCommand(CLI::App& app, Commands& out);       // audit
void AddCollectionCommands(CLI::App& app, Commands& out);  // create, info, drop, index, backup, compact
void AddPointCommands(CLI::App& app, Commands& out);       // import, search, count
void AddServeCommand(CLI::App& app, Commands& out);        // serve
void AddBenchCommands(CLI::App& app, Commands& out);       // bench search|filtered|reopen|concurrent|compact|serve

}  // namespace vectron::tools
