// Builders of OptionSpec by value type: each knows how to read its type from
// a flag, an environment variable or a config-file value, what it allows,
// and how to write it back as TOML. `field` is a callable returning a
// reference to the value in a ServeConfig.
#pragma once

#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cli/option_table.hpp"

namespace sluice::cli::options {

/// The one text of a scalar value, checking a file value's type against
/// `want` (an integer is also a number). Returns "" or why not.
std::string scalar_text(const RawValue& raw, TomlValue::Kind want, std::string& text);
/// Parses a boolean text (true/false, 1/0, yes/no, on/off). Returns "" or why not.
std::string parse_bool(const std::string& text, bool& value);
/// A number's shortest text that reads back the same. Pure.
std::string number_text(double v);
/// Parses a finite decimal number. Returns "" or why not.
std::string parse_number(const std::string& text, double& value);

/// Copies the field from one config to another (SIGHUP applies a live option so).
template <class F>
std::function<void(ServeConfig&, const ServeConfig&)> copier(F field) {
  return [field](ServeConfig& to, const ServeConfig& from) { field(to) = field(const_cast<ServeConfig&>(from)); };
}

inline std::string describe_range(const std::string& what, const std::string& min, const std::string& max,
                                  bool unbounded) {
  return unbounded ? what + " >= " + min : what + " from " + min + " to " + max;
}

template <class T, class F>
OptionSpec integer(std::string name, F field, T min, T max, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.allowed = describe_range("an integer", std::to_string(min), std::to_string(max), sizeof(T) >= 8 && max == std::numeric_limits<T>::max());
  s.assign = [field, min, max](ServeConfig& c, const RawValue& raw) -> std::string {
    std::string text;
    if (auto why = scalar_text(raw, TomlValue::Kind::integer, text); !why.empty()) return why;
    const char* first = text.data() + (text.starts_with('+') ? 1 : 0);
    const char* last = text.data() + text.size();
    T value{};
    if (text.starts_with('-')) {
      long long v = 0;
      auto [end, ec] = std::from_chars(first, last, v);
      if (ec == std::errc::result_out_of_range) return "out of range";
      if (ec != std::errc() || end != last) return "not an integer";
      if (std::cmp_less(v, min) || std::cmp_greater(v, max)) return "out of range";
      value = static_cast<T>(v);
    } else {
      unsigned long long v = 0;
      auto [end, ec] = std::from_chars(first, last, v);
      if (ec == std::errc::result_out_of_range) return "out of range";
      if (ec != std::errc() || end != last) return "not an integer";
      if (std::cmp_greater(v, max) || std::cmp_less(v, min)) return "out of range";
      value = static_cast<T>(v);
    }
    field(c) = value;
    return {};
  };
  s.toml = [field](const ServeConfig& c) { return std::to_string(field(const_cast<ServeConfig&>(c))); };
  s.copy = copier(field);
  return s;
}

/// A decimal number (max: infinity for no upper bound).
template <class F>
OptionSpec number(std::string name, F field, double min, double max, std::string help, std::string allowed = {}) {
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.allowed = allowed.empty() ? describe_range("a number", number_text(min), number_text(max), std::isinf(max))
                              : std::move(allowed);
  s.assign = [field, min, max](ServeConfig& c, const RawValue& raw) -> std::string {
    std::string text;
    if (auto why = scalar_text(raw, TomlValue::Kind::floating, text); !why.empty()) return why;
    double v = 0;
    if (auto why = parse_number(text, v); !why.empty()) return why;
    if (v < min || v > max) return "out of range";
    field(c) = v;
    return {};
  };
  s.toml = [field](const ServeConfig& c) { return number_text(field(const_cast<ServeConfig&>(c))); };
  s.copy = copier(field);
  return s;
}

/// A duration given in seconds (a decimal number; kept in the field's unit).
template <class F>
OptionSpec seconds(std::string name, F field, double min, double max, std::string help, bool min_exclusive = false) {
  using Duration = std::remove_reference_t<decltype(field(std::declval<ServeConfig&>()))>;
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.allowed = min_exclusive ? "seconds > " + number_text(min)
                            : describe_range("seconds", number_text(min), number_text(max), std::isinf(max));
  if (min_exclusive && !std::isinf(max)) s.allowed += " and <= " + number_text(max);
  s.assign = [field, min, max, min_exclusive](ServeConfig& c, const RawValue& raw) -> std::string {
    std::string text;
    if (auto why = scalar_text(raw, TomlValue::Kind::floating, text); !why.empty()) return why;
    double v = 0;
    if (auto why = parse_number(text, v); !why.empty()) return why;
    if (v < min || v > max || (min_exclusive && v == min)) return "out of range";
    const double ticks = v * static_cast<double>(Duration::period::den) / static_cast<double>(Duration::period::num);
    if (ticks > 1e15) return "out of range";
    if (min_exclusive && std::llround(ticks) == 0) return "below the resolution of " + std::string(std::is_same_v<Duration, std::chrono::seconds> ? "1 s" : "1 ms");
    field(c) = Duration(static_cast<typename Duration::rep>(std::llround(ticks)));
    return {};
  };
  s.toml = [field](const ServeConfig& c) {
    const auto d = field(const_cast<ServeConfig&>(c));
    return number_text(std::chrono::duration<double>(d).count());
  };
  s.copy = copier(field);
  return s;
}

/// A switch: --name, or name = true/false. `inverted`: the field holds the opposite.
template <class F>
OptionSpec boolean(std::string name, F field, std::string help, bool inverted = false) {
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.flag = true;
  s.allowed = "true or false";
  s.assign = [field, inverted](ServeConfig& c, const RawValue& raw) -> std::string {
    std::string text;
    if (auto why = scalar_text(raw, TomlValue::Kind::boolean, text); !why.empty()) return why;
    bool v = false;
    if (auto why = parse_bool(text, v); !why.empty()) return why;
    field(c) = v != inverted;
    return {};
  };
  s.toml = [field, inverted](const ServeConfig& c) {
    return (field(const_cast<ServeConfig&>(c)) != inverted) ? std::string("true") : std::string("false");
  };
  s.copy = copier(field);
  return s;
}

/// A string; `check` (optional) returns "" or why the value is not allowed.
template <class F>
OptionSpec text(std::string name, F field, std::string help, std::string allowed = "a string",
                std::function<std::string(const std::string&)> check = {}) {
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.allowed = std::move(allowed);
  s.assign = [field, check](ServeConfig& c, const RawValue& raw) -> std::string {
    std::string v;
    if (auto why = scalar_text(raw, TomlValue::Kind::string, v); !why.empty()) return why;
    if (check) {
      if (auto why = check(v); !why.empty()) return why;
    }
    field(c) = std::move(v);
    return {};
  };
  s.toml = [field](const ServeConfig& c) { return toml_quote(field(const_cast<ServeConfig&>(c))); };
  s.copy = copier(field);
  return s;
}

/// One of a few names, each standing for a value of the field's type.
template <class T, class F>
OptionSpec choice(std::string name, F field, std::vector<std::pair<std::string, T>> names, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  for (std::size_t i = 0; i < names.size(); ++i) {
    s.allowed += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("'" + names[i].first + "'");
  }
  s.assign = [field, names](ServeConfig& c, const RawValue& raw) -> std::string {
    std::string v;
    if (auto why = scalar_text(raw, TomlValue::Kind::string, v); !why.empty()) return why;
    for (const auto& [n, value] : names) {
      if (n == v) {
        field(c) = value;
        return {};
      }
    }
    return "not one of the choices";
  };
  s.toml = [field, names](const ServeConfig& c) {
    for (const auto& [n, value] : names) {
      if (value == field(const_cast<ServeConfig&>(c))) return toml_quote(n);
    }
    return toml_quote("?");
  };
  s.copy = copier(field);
  return s;
}

/// A list of strings: a repeatable flag, a `delimiter`-separated environment
/// value, an array (or one string) in the file. `check` applies to each item.
template <class F>
OptionSpec list(std::string name, F field, char delimiter, std::string help, std::string allowed,
                std::function<std::string(const std::string&)> check = {}) {
  OptionSpec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.list = true;
  s.delimiter = delimiter;
  s.allowed = std::move(allowed);
  s.assign = [field, check](ServeConfig& c, const RawValue& raw) -> std::string {
    std::vector<std::string> items;
    if (raw.typed) {
      if (raw.toml.kind == TomlValue::Kind::string) {
        items.push_back(raw.toml.text);
      } else if (raw.toml.kind == TomlValue::Kind::array) {
        for (const auto& item : raw.toml.items) {
          if (item.kind != TomlValue::Kind::string) return std::string("an array item is ") + item.kind_name() + ", expected a string";
          items.push_back(item.text);
        }
      } else {
        return std::string(raw.toml.kind_name()) + ", expected an array of strings";
      }
    } else {
      for (const auto& t : raw.texts) {
        if (!t.empty()) items.push_back(t);
      }
    }
    if (check) {
      for (const auto& item : items) {
        if (auto why = check(item); !why.empty()) return why;
      }
    }
    field(c) = std::move(items);
    return {};
  };
  s.toml = [field](const ServeConfig& c) {
    std::string out = "[";
    const auto& items = field(const_cast<ServeConfig&>(c));
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_quote(items[i]);
    return out + "]";
  };
  s.copy = copier(field);
  return s;
}

/// A check for file options: "" when `path` is empty or a readable regular file.
std::string existing_file(const std::string& path);

}  // namespace sluice::cli::options
