// `sluice serve`: the options of serve_options.cpp resolved from flags,
// SLUICE_* environment variables and a config file (in that precedence),
// validated at start, then run until SIGINT/SIGTERM; SIGHUP reloads.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <thread>

#include "cli/commands.hpp"
#include "cli/log_setup.hpp"
#include "cli/option_table.hpp"
#include "cli/service_notify.hpp"
#include "sluice/engine/redis_url.hpp"
#include "sluice/server/sluice_server.hpp"
#include "sluice/util/thread_name.hpp"

namespace sluice::cli {

namespace {

struct ServeCommand {
  OptionTable table{serve_option_specs()};
  std::string config_path;  // serve --config (else sluice --config, else SLUICE_CONFIG)
  bool print_config = false;
};

const char* process_env(const char* name) { return std::getenv(name); }

// A configuration error: one message, the usual hint, exit code 2.
int config_error(const std::string& command, const std::string& message) {
  std::cerr << command << ": " << message << "\nRun '" << command << " --help' for more information.\n";
  return 2;
}

// The effective config from every source; nullopt with the message in `error`.
std::optional<ServeConfig> load(const ServeCommand& command, std::map<std::string, Source>& sources,
                                std::string& error) {
  std::string path = command.config_path;
  if (path.empty()) path = global_config_path();
  if (path.empty() && std::getenv("SLUICE_CONFIG")) path = std::getenv("SLUICE_CONFIG");
  std::optional<std::vector<TomlEntry>> file;
  if (!path.empty()) {
    file = read_config_file(path, error);
    if (!file) return std::nullopt;
  }
  auto config = command.table.resolve(file ? &*file : nullptr, path, process_env, error, &sources);
  if (!config) return std::nullopt;
  if (auto why = config->server.validate(); !why.empty()) {
    error = "invalid setting: " + why;
    return std::nullopt;
  }
  return config;
}

// SIGHUP: read every source again; apply what can change live, name the rest.
void reload(const ServeCommand& command, ServeConfig& current, server::SluiceServer& sluice) {
  std::map<std::string, Source> sources;
  std::string error;
  auto next = load(command, sources, error);
  if (!next) {
    spdlog::error("SIGHUP: configuration not reloaded, the running one stays in force: {}", error);
  } else {
    std::vector<std::string> applied, restart;
    for (const OptionSpec* spec : command.table.changed(current, *next)) {
      (spec->live ? applied : restart).push_back(spec->name);
    }
    const bool level_changed = next->log_level != current.log_level;
    // What applied is now current; what needs a restart keeps its running value.
    for (const OptionSpec* spec : command.table.changed(current, *next)) {
      if (spec->live) spec->copy(current, *next);
    }
    if (!applied.empty()) sluice.apply_live_settings(current.server);
    // Logged once in force (the log level just after, so these lines still
    // show when it rises): whoever reads "applied" may rely on it.
    for (const auto& name : applied) {
      spdlog::info("SIGHUP: {} changed and applied", name);
    }
    for (const auto& name : restart) {
      spdlog::warn("SIGHUP: {} changed but needs a restart to apply; the running value stays", name);
    }
    if (applied.empty() && restart.empty()) spdlog::info("SIGHUP: configuration unchanged");
    if (level_changed) apply_log_level(next->log_level);
  }
  if (current.server.keys_file.empty()) return;
  std::size_t count = 0;
  std::string why;
  if (sluice.reload_keys(count, why)) {
    spdlog::info("SIGHUP: {} API keys loaded from {}", count, current.server.keys_file);
  } else {
    spdlog::error("SIGHUP: keys not reloaded, the previous ones stay in force: {}", why);
  }
}

// WATCHDOG=1 to the service manager every period while the event loops
// answer: a stuck loop stops the pings, and systemd restarts the server.
class ServiceWatchdog {
 public:
  ServiceWatchdog(server::SluiceServer& sluice, std::chrono::microseconds period) {
    if (period.count() <= 0) return;
    thread_ = std::thread([this, &sluice, period] {
      // Half a period to answer: a ping still comes within 1.5 periods (3/4 of WatchdogSec).
      const auto wait = std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(period) / 2);
      std::unique_lock lock(mutex_);
      while (!stop_) {
        lock.unlock();
        if (sluice.loops_answer(wait)) {
          notify_service("WATCHDOG=1");
        } else {
          spdlog::error("an event loop did not answer within {} ms: no watchdog ping", wait.count());
        }
        lock.lock();
        stopped_.wait_for(lock, period, [this] { return stop_; });
      }
    });
    util::name_thread(thread_, "sluice-watchdog");
  }
  ~ServiceWatchdog() { stop(); }
  ServiceWatchdog(const ServiceWatchdog&) = delete;
  ServiceWatchdog& operator=(const ServiceWatchdog&) = delete;

  /// Stops the pings (before shutdown stops the loops). Idempotent.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    stopped_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stop_ = false;
  std::thread thread_;
};

int run(const ServeCommand& command, ServeConfig config) {
  const auto& s = config.server;
  // Block the signals before any thread starts, so only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::SluiceServer sluice(s);
  std::string error;
  if (!sluice.start(error)) {
    spdlog::error("{}", error);
    return 1;
  }
  // An acknowledged subscription that did not come back must not pass unnoticed.
  for (const auto& problem : sluice.load_errors()) spdlog::error("{}", problem);
  if (!sluice.load_errors().empty()) {
    spdlog::error("{} stored subscription(s) could not be loaded: they stay in {} but are not served; "
                  "fix or delete them there", sluice.load_errors().size(), s.data_dir);
  }
  const bool tls = !s.tls_cert.empty();
  spdlog::info("sluice {} listening on {}://{}:{}/v1/ws ({} event loops, send queue {} bytes, overflow policy {})",
               server::kVersion, tls ? "wss" : "ws", s.address, sluice.port(),
               s.threads ? s.threads : std::max(1u, std::thread::hardware_concurrency()), s.send_queue_limit,
               s.overflow == net::OverflowPolicy::drop ? "drop" : "close");
  if (!s.engine.empty()) {
    std::string shards;
    for (const auto& url : s.engine) shards += (shards.empty() ? "" : ", ") + engine::mask_redis_password(url);
    spdlog::info("engine: {} (events, offsets, epochs, idempotency keys, subscriptions and webhook state shared "
                 "with the other nodes on it{}); this node is {}",
                 shards, s.engine.size() > 1 ? ", topics spread over the shards" : "", sluice.node_id());
  } else if (s.store == "sqlite") {
    spdlog::info("events and subscriptions stored in {} (sqlite, durability {})", s.data_dir,
                 s.durability == store::Durability::fsync ? "fsync" : "os-buffered");
  } else {
    spdlog::info("store: memory (nothing survives a restart)");
  }
  if (!s.auth_required()) {
    spdlog::warn("no authentication configured (--keys-file, --jwt-secret-file, --jwt-public-key): {}",
                 s.loopback_only() ? "listening on loopback only, so only this machine can connect"
                                   : "--insecure: anyone who can reach the port may publish, subscribe and delete");
  } else {
    if (!s.keys_file.empty()) {
      spdlog::info("API keys required on the HTTP API ({}; SIGHUP reloads it)", s.keys_file);
    } else {
      spdlog::info("no --keys-file: the HTTP API refuses every request but the health probes");
    }
    if (!s.jwt_secret_file.empty() || !s.jwt_public_key.empty()) {
      spdlog::info("connection tokens required on /v1/ws and subscription streams ({})",
                   s.jwt_secret_file.empty() ? "RS256/ES256, " + s.jwt_public_key : "HS256, " + s.jwt_secret_file);
    } else {
      spdlog::info("/v1/ws and subscription streams take API keys (no connection-token key configured)");
    }
  }
  // Without auth the warning above says it already (and --address alone would be refused).
  if (s.loopback_only() && s.auth_required()) spdlog::info("bound to loopback only: pass --address 0.0.0.0 to accept remote clients");
  // systemd (Type=notify): started means listening, with the store open.
  notify_service("READY=1\nSTATUS=listening on " + s.address + ":" + std::to_string(sluice.port()));
  ServiceWatchdog watchdog(sluice, service_watchdog_period());
  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    reload(command, config, sluice);
  }
  watchdog.stop();  // first: no ping may follow STOPPING=1
  notify_service("STOPPING=1\nSTATUS=draining connections");
  spdlog::info("{} received: closing {} connections with 1001, draining up to {} s",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM", sluice.connection_count(),
               std::chrono::duration<double>(s.shutdown_drain).count());
  sluice.shutdown(s.shutdown_drain);
  spdlog::info("stopped");
  return 0;
}

int serve_main(const ServeCommand& command) {
  std::map<std::string, Source> sources;
  std::string error;
  auto config = load(command, sources, error);
  if (!config) return config_error("sluice serve", error);
  if (command.print_config) {
    std::cout << command.table.to_toml(*config, sources) << std::flush;
    return 0;
  }
  setup_logging(config->log_format, config->log_level);
  try {
    return run(command, std::move(*config));
  } catch (const std::exception& e) {
    spdlog::critical("sluice serve stopped on an unexpected error: {}", e.what());
    return 1;
  }
}

// `sluice config check FILE`: the file alone (no flags, no environment) is
// resolved and validated like `serve` would, without starting anything.
int config_check(const std::string& path) {
  std::string error;
  auto file = read_config_file(path, error);
  if (!file) return config_error("sluice config check", error);
  const OptionTable table(serve_option_specs());
  auto config = table.resolve(&*file, path, [](const char*) -> const char* { return nullptr; }, error);
  if (!config) return config_error("sluice config check", error);
  if (auto why = config->server.validate(); !why.empty()) {
    return config_error("sluice config check", "invalid setting: " + why);
  }
  std::cout << path << ": ok (" << file->size() << " keys set; the rest default)\n";
  return 0;
}

}  // namespace

std::string& global_config_path() {
  static std::string path;
  return path;
}

void add_serve_command(CLI::App& app) {
  auto command = std::make_shared<ServeCommand>();
  CLI::App* serve = app.add_subcommand("serve", "Run the Sluice server");
  serve->footer(
      "Every option can also be given as a SLUICE_* environment variable (shown with each option) or as a key of "
      "a TOML config file (--config FILE, keys under [serve]). Precedence: flag > environment > file > default.");
  serve->add_option("--config", command->config_path,
                    "TOML config file, keys as the options without '--' under [serve] (also: SLUICE_CONFIG)");
  serve->add_flag("--print-config", command->print_config,
                  "Print the effective configuration as TOML (secrets masked) and exit; --config reads it back");
  command->table.add_flags(*serve);
  serve->callback([command] { std::exit(serve_main(*command)); });
}

void add_config_command(CLI::App& app) {
  CLI::App* config = app.add_subcommand("config", "Work with `sluice serve` config files");
  config->require_subcommand(1);
  CLI::App* check = config->add_subcommand("check", "Validate a config file without starting the server (exit 0: valid, 2: not)");
  auto path = std::make_shared<std::string>();
  check->add_option("file", *path, "The TOML file (keys under [serve])")->required();
  check->callback([path] { std::exit(config_check(*path)); });
}

}  // namespace sluice::cli
