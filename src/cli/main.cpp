// `sluice`: one binary for the server and its tools (SPEC §5).
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "sluice/server/sluice_server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Sluice: real-time event delivery over WebSocket"};
  app.set_version_flag("--version", std::string(sluice::server::kVersion));
  app.set_config("--config", "", "Read options from a TOML/INI file (a [serve] section for `serve`)");
  app.require_subcommand(1);
  sluice::cli::add_serve_command(app);
  sluice::cli::add_pub_command(app);
  sluice::cli::add_sub_command(app);
  sluice::cli::add_cat_command(app);
  sluice::cli::add_key_command(app);
  sluice::cli::add_token_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message; usage errors exit 2 (SPEC §5), --help and --version 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return 0;
}
