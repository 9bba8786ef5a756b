// One table describes every option of `sluice serve`; from it come the
// command-line flags, the SLUICE_* environment variables, the config-file
// keys, the validation messages and the TOML of --print-config. Precedence:
// flag > environment > config file > default.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/toml_reader.hpp"
#include "sluice/server/settings.hpp"

namespace sluice::cli {

/// What `sluice serve` runs with: the server's settings plus the process's own.
struct ServeConfig {
  server::ServerSettings server;
  std::string log_format = "text";  ///< "text" or "json" (one JSON object per line)
  std::string log_level = "info";   ///< trace, debug, info, warn, error, critical, off
};

/// Where an option's value came from.
enum class Source { default_value, file, env, flag };

/// A value to assign: typed when it comes from the config file, text (to
/// convert) when it comes from a flag or the environment.
struct RawValue {
  bool typed = false;          ///< from the file: `toml` holds it
  TomlValue toml;
  std::vector<std::string> texts;  ///< from a flag or the environment: one text (a list: each item)
};

/// One option. Built with the helpers of serve_options.cpp; see there.
struct OptionSpec {
  std::string name;       ///< flag --name, config key `name`, and (unless env is set) SLUICE_NAME
  std::string env;        ///< environment variable
  std::string help;
  std::string allowed;    ///< what values are allowed, for messages ("an integer from 1 to 1024")
  bool flag = false;      ///< a switch: --name alone means true (--name=false also works)
  bool list = false;      ///< repeatable; array in the file
  char delimiter = 0;     ///< a list's separator in one flag or environment value (0: none)
  bool secret = false;    ///< masked in --print-config
  bool live = false;      ///< SIGHUP applies a change without a restart
  /// Sets the value; returns "" or why it is not allowed (the caller adds key, value and source).
  std::function<std::string(ServeConfig&, const RawValue&)> assign;
  /// The value as a TOML literal.
  std::function<std::string(const ServeConfig&)> toml;
  /// Copies the value from `from` into `to`.
  std::function<void(ServeConfig& to, const ServeConfig& from)> copy;

  OptionSpec& env_name(std::string e) { env = std::move(e); return *this; }
  OptionSpec& reloadable() { live = true; return *this; }
  OptionSpec& masked() { secret = true; return *this; }
};

/// The table and what is done with it. Not thread-safe; built once at start.
class OptionTable {
 public:
  explicit OptionTable(std::vector<OptionSpec> specs);

  /// Adds every option to `command` as a flag that only records its text
  /// (conversion and checks happen in resolve(), the same for all sources).
  void add_flags(CLI::App& command);

  /// The effective config: defaults, then the file's keys (`file` may be
  /// null), then the environment (`getenv`), then the flags given. On the first
  /// problem returns nullopt and one message naming the key, the value, its
  /// source and what is allowed. `sources` (may be null) gets each option's source.
  std::optional<ServeConfig> resolve(const std::vector<TomlEntry>* file, const std::string& file_name,
                                     const std::function<const char*(const char*)>& getenv, std::string& error,
                                     std::map<std::string, Source>* sources = nullptr) const;

  /// The config as TOML under [serve] that --config reads back to the same
  /// config; secret values are masked (and commented out).
  std::string to_toml(const ServeConfig& config, const std::map<std::string, Source>& sources) const;

  /// The options whose TOML differs between `before` and `after`.
  std::vector<const OptionSpec*> changed(const ServeConfig& before, const ServeConfig& after) const;

  const std::vector<OptionSpec>& specs() const noexcept { return specs_; }

 private:
  std::vector<OptionSpec> specs_;
  std::map<std::string, CLI::Option*> cli_;  // name -> its flag
  std::map<std::string, std::vector<std::string>> given_;  // what the flags recorded
};

/// Reads and parses a config file; nullopt with a message naming it when it
/// is missing, unreadable or not valid TOML.
std::optional<std::vector<TomlEntry>> read_config_file(const std::string& path, std::string& error);

/// The table of `sluice serve` (serve_options.cpp): add an option there.
std::vector<OptionSpec> serve_option_specs();

}  // namespace sluice::cli
