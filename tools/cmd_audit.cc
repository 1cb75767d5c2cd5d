// `vectron audit`: the auth audit log of `vectron serve` (serve_admin.h).
#include "cli.h"
#include "serve_admin.h"

namespace vectron::tools {
namespace {

void AddAudit(CLI::App* cmd, AuditCliOptions& o) {
  AddDbOption(cmd, &o.data_dir);
  cmd->add_option("--limit", o.limit, "Events to show")->capture_default_str();
  cmd->add_option("--since", o.since, "Only events since: Unix seconds, or an age (30m, 12h, 7d)");
  cmd->add_option("--cursor", o.cursor, "Start at this event seq (from a previous page)");
  cmd->add_flag("--json", o.json, "One JSON object per line");
}

}  // namespace

void AddAuditCommand(CLI::App& app, Commands& out) {
  AddCommand<AuditCliOptions>(app, out, "audit", "Show the auth audit log of `vectron serve`, newest first", AddAudit,
                              RunAudit);
}

}  // namespace vectron::tools
