// The `vectron` command-line tool. Each subcommand is one options struct and one Run
// function in cmd_*.cc:
//   cmd_collection.cc  create, info, drop, index, backup, compact
//   cmd_points.cc      import, search, count
//   cmd_serve.cc       serve
//   cmd_audit.cc       audit
//   cmd_bench.cc       bench search|filtered|reopen|concurrent|compact|serve
//   cluster_commands.cc pd, worker, gateway, cluster up|status
#include "cli.h"
#include "cluster_commands.h"

int main(int argc, char** argv) {
  using namespace vectron::tools;
  CLI::App app{"vectron: an embedded vector database and its tools"};
  app.require_subcommand(1);
  app.set_version_flag("--version", VECTRON_VERSION);
  InstallInterruptHandler();

  Commands commands;
  AddCollectionCommands(app, commands);
  AddPointCommands(app, commands);
  AddServeCommand(app, commands);
  AddAuditCommand(app, commands);
  AddBenchCommands(app, commands);
  ClusterCommands cluster_commands;
  AddClusterCommands(app, &cluster_commands);

  CLI11_PARSE(app, argc, argv);
  if (int rc = RunClusterCommand(cluster_commands); rc >= 0) return rc;
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return 0;
}
