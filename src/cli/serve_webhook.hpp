// `sluice serve`'s webhook flags (also SLUICE_WEBHOOK_* variables and the
// config file's [serve] section), kept apart so serve.cpp only calls this.
#pragma once

#include <CLI/CLI.hpp>

#include "sluice/server/webhook_settings.hpp"

namespace sluice::cli {

/// Adds the --webhook-* options to `serve`, writing into `settings` (which
/// must outlive the parse).
void add_webhook_options(CLI::App& serve, server::WebhookSettings& settings);

}  // namespace sluice::cli
