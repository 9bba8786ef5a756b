#include "cli/option_table.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "cli/option_builders.hpp"

namespace sluice::cli {

namespace options {

std::string scalar_text(const RawValue& raw, TomlValue::Kind want, std::string& text) {
  if (raw.typed) {
    const auto kind = raw.toml.kind;
    const bool ok = kind == want || (want == TomlValue::Kind::floating && kind == TomlValue::Kind::integer);
    if (!ok) {
      TomlValue wanted;
      wanted.kind = want;
      return std::string(raw.toml.kind_name()) + ", expected " + wanted.kind_name();
    }
    text = raw.toml.text;
    return {};
  }
  if (raw.texts.empty()) return "no value";
  text = raw.texts.back();  // given twice: the last one counts
  return {};
}

std::string parse_bool(const std::string& text, bool& value) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "true" || t == "1" || t == "yes" || t == "on") {
    value = true;
  } else if (t == "false" || t == "0" || t == "no" || t == "off") {
    value = false;
  } else {
    return "not a boolean";
  }
  return {};
}

std::string number_text(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(v);
}

std::string parse_number(const std::string& text, double& value) {
  const char* first = text.data() + (text.starts_with('+') ? 1 : 0);
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || end != last || first == last) return "not a number";
  if (!std::isfinite(value)) return "not a finite number";
  return {};
}

std::string existing_file(const std::string& path) {
  if (path.empty()) return {};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "no such file";
  if (S_ISDIR(st.st_mode)) return "a directory, not a file";
  std::ifstream in(path);
  if (!in) return "not readable";
  return {};
}

}  // namespace options

namespace {

std::string env_name_of(const std::string& name) {
  std::string env = "SLUICE_";
  for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

// Edit distance, for "did you mean" on an unknown key.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string shown(const std::string& text) { return toml_quote(text); }

}  // namespace

OptionTable::OptionTable(std::vector<OptionSpec> specs) : specs_(std::move(specs)) {
  for (auto& s : specs_) {
    if (s.env.empty()) s.env = env_name_of(s.name);
  }
}

void OptionTable::add_flags(CLI::App& command) {
  const ServeConfig defaults;
  for (const auto& s : specs_) {
    auto& target = given_[s.name];
    std::string help = s.help + " [env " + s.env;
    if (!s.flag) help += "; default " + s.toml(defaults);
    help += "]";
    CLI::Option* option = s.flag ? command.add_flag("--" + s.name, target, help)
                                 : command.add_option("--" + s.name, target, help);
    if (s.list && s.delimiter) option->delimiter(s.delimiter);
    if (!s.flag && !s.list) option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    cli_[s.name] = option;
  }
}

std::optional<ServeConfig> OptionTable::resolve(const std::vector<TomlEntry>* file, const std::string& file_name,
                                                const std::function<const char*(const char*)>& getenv,
                                                std::string& error, std::map<std::string, Source>* sources) const {
  ServeConfig config;
  auto find = [this](const std::string& key) -> const OptionSpec* {
    for (const auto& s : specs_) {
      if (s.name == key) return &s;
    }
    return nullptr;
  };
  if (file) {
    for (const auto& entry : *file) {
      // Keys go under [serve] (or at the top); "max_connections" is read as "max-connections".
      std::string key = entry.key;
      std::replace(key.begin(), key.end(), '_', '-');
      const OptionSpec* spec = entry.table.empty() || entry.table == "serve" ? find(key) : nullptr;
      const std::string where = file_name + " line " + std::to_string(entry.line);
      if (!spec) {
        const std::string full = entry.table.empty() ? entry.key : "[" + entry.table + "] " + entry.key;
        error = "unknown key " + full + " = " + entry.value.spelled() + " in " + where +
                ": allowed are the options of 'sluice serve --help', under [serve]";
        if (entry.table.empty() || entry.table == "serve") {
          const OptionSpec* best = nullptr;
          std::size_t best_distance = 4;
          for (const auto& s : specs_) {
            const std::size_t d = distance(key, s.name);
            if (d < best_distance) best = &s, best_distance = d;
          }
          if (best) error += "; did you mean " + best->name + "?";
        }
        return std::nullopt;
      }
      RawValue raw;
      raw.typed = true;
      raw.toml = entry.value;
      if (auto why = spec->assign(config, raw); !why.empty()) {
        error = "invalid " + spec->name + " = " + entry.value.spelled() + " in " + where + ": " + why +
                "; allowed: " + spec->allowed;
        return std::nullopt;
      }
      if (sources) (*sources)[spec->name] = Source::file;
    }
  }
  for (const auto& s : specs_) {
    const char* value = getenv(s.env.c_str());
    if (!value) continue;
    RawValue raw;
    const std::string text = value;
    if (s.list && s.delimiter) {
      std::stringstream in(text);
      for (std::string item; std::getline(in, item, s.delimiter);) raw.texts.push_back(item);
    } else {
      raw.texts.push_back(text);
    }
    if (auto why = s.assign(config, raw); !why.empty()) {
      error = "invalid " + s.name + " = " + shown(text) + " from the environment variable " + s.env + ": " + why +
              "; allowed: " + s.allowed;
      return std::nullopt;
    }
    if (sources) (*sources)[s.name] = Source::env;
  }
  for (const auto& s : specs_) {
    const auto given = given_.find(s.name);
    const auto option = cli_.find(s.name);
    if (given == given_.end() || option == cli_.end() || option->second->count() == 0) continue;
    RawValue raw;
    raw.texts = given->second;
    if (s.flag && raw.texts.empty()) raw.texts.push_back("true");
    if (auto why = s.assign(config, raw); !why.empty()) {
      const std::string text = raw.texts.empty() ? std::string() : raw.texts.back();
      error = "invalid " + s.name + " = " + shown(text) + " from --" + s.name + ": " + why + "; allowed: " + s.allowed;
      return std::nullopt;
    }
    if (sources) (*sources)[s.name] = Source::flag;
  }
  return config;
}

std::string OptionTable::to_toml(const ServeConfig& config, const std::map<std::string, Source>& sources) const {
  std::string out =
      "# The effective configuration of `sluice serve` (flag > SLUICE_* environment > config file > default).\n"
      "# Read it back with: sluice serve --config FILE\n[serve]\n";
  for (const auto& s : specs_) {
    const auto it = sources.find(s.name);
    const Source source = it == sources.end() ? Source::default_value : it->second;
    const char* from = source == Source::flag   ? "  # from --"
                       : source == Source::env  ? "  # from "
                       : source == Source::file ? "  # from the config file"
                                                : "";
    std::string origin = from;
    if (source == Source::flag) origin += s.name;
    if (source == Source::env) origin += s.env;
    if (s.secret) {
      const bool set = s.toml(config) != s.toml(ServeConfig{});
      out += "# " + s.name + " = \"********\"  # masked" + (set ? ", set" + origin.substr(2) : ", not set") +
             "; give it in the file or " + s.env + "\n";
      continue;
    }
    out += s.name + " = " + s.toml(config) + origin + "\n";
  }
  return out;
}

std::vector<const OptionSpec*> OptionTable::changed(const ServeConfig& before, const ServeConfig& after) const {
  std::vector<const OptionSpec*> out;
  for (const auto& s : specs_) {
    if (s.toml(before) != s.toml(after)) out.push_back(&s);
  }
  return out;
}

std::optional<std::vector<TomlEntry>> read_config_file(const std::string& path, std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = "config = " + toml_quote(path) + ": no such file; allowed: a readable TOML file";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (S_ISDIR(st.st_mode) || !in) {
    error = "config = " + toml_quote(path) + ": " + (S_ISDIR(st.st_mode) ? "a directory" : "not readable") +
            "; allowed: a readable TOML file";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string why;
  auto entries = parse_toml(text.str(), why);
  if (!entries) error = "config file " + path + " is not valid TOML: " + why;
  return entries;
}

}  // namespace sluice::cli
