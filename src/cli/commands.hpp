// The subcommands of the `sluice` binary; each adds itself to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace sluice::cli {

/// `sluice serve`: runs the server until SIGINT/SIGTERM.
void add_serve_command(CLI::App& app);
/// `sluice cat URL`: interactive WebSocket client (stdin lines out, messages to stdout).
void add_cat_command(CLI::App& app);

}  // namespace sluice::cli
