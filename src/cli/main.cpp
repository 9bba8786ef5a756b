// `sluice`: one binary for the server and its tools (SPEC §5).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "sluice/server/sluice_server.hpp"

namespace {

// SPEC §5: every usage error exits 2 (CLI11's own codes are 101-120), with
// the message and where to read more: `sluice [COMMAND] --help`.
int usage_error(const CLI::App& app, const CLI::ParseError& e) {
  std::string command = "sluice";
  for (const CLI::App* sub : app.get_subcommands()) command += " " + sub->get_name();
  std::fprintf(stderr, "%s: %s\nRun '%s --help' for more information.\n", command.c_str(), e.what(), command.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sluice: real-time event delivery over WebSocket"};
  app.set_version_flag("--version", std::string(sluice::server::kVersion));
  // `serve` reads it (serve.cpp), strictly: keys under [serve], precedence flag > env > file.
  app.add_option("--config", sluice::cli::global_config_path(),
                 "TOML config file for `serve` (keys under [serve]; same as `sluice serve --config`)");
  app.require_subcommand(1);
  sluice::cli::add_serve_command(app);
  sluice::cli::add_pub_command(app);
  sluice::cli::add_sub_command(app);
  sluice::cli::add_cat_command(app);
  sluice::cli::add_key_command(app);
  sluice::cli::add_token_command(app);
  sluice::cli::add_bench_command(app);
  sluice::cli::add_config_command(app);
  try {
    app.parse(argc, argv);  // a command's callback runs it and exits with its status
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    return usage_error(app, e);
  }
  return 0;
}
