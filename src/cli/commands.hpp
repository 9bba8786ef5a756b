// The subcommands of the `sluice` binary; each adds itself to the app.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace sluice::cli {

/// `sluice serve`: runs the server until SIGINT/SIGTERM.
void add_serve_command(CLI::App& app);
/// `sluice config check FILE`: validates a serve config file without starting.
void add_config_command(CLI::App& app);
/// The path given to `sluice --config` (read by serve). Not thread-safe: set while parsing.
std::string& global_config_path();
/// `sluice cat URL`: interactive WebSocket client (stdin lines out, messages to stdout).
void add_cat_command(CLI::App& app);
/// `sluice pub TOPIC [DATA]`: publish and print the acknowledgements.
void add_pub_command(CLI::App& app);
/// `sluice sub TOPIC|--subscription ID`: follow, printing events as JSON lines.
void add_sub_command(CLI::App& app);
/// `sluice key create|list|revoke --keys-file PATH`: API keys.
void add_key_command(CLI::App& app);
/// `sluice bench fanout|echo|idle|publish|churn|storm`: load a server and measure it.
void add_bench_command(CLI::App& app);
/// `sluice token --jwt-secret-file PATH --sub NAME ...`: print a connection token.
void add_token_command(CLI::App& app);

}  // namespace sluice::cli
