#include "sluice/log/log.hpp"

#include <spdlog/formatter.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace sluice::log {

namespace {

std::atomic<bool> json_mode{false};
// The context of the line being written on this thread, for the JSON formatter.
thread_local const Context* current_context = nullptr;

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_text_value(std::string& out, std::string_view value) {
  if (value.find_first_of(" \"=\n") == std::string_view::npos && !value.empty()) {
    out += value;
    return;
  }
  append_json_string(out, value);  // quoted and escaped, readable as text too
}

// Calls `emit(key, value, number)` for each field of `c` that is set.
template <class Emit>
void each_field(const Context& c, Emit emit) {
  if (c.connection) emit("conn", std::to_string(c.connection), true);
  if (!c.remote.empty()) emit("remote", std::string(c.remote), false);
  if (!c.sub.empty()) emit("sub", std::string(c.sub), false);
  if (!c.subscription.empty()) emit("subscription", std::string(c.subscription), false);
  if (!c.topic.empty()) emit("topic", std::string(c.topic), false);
  for (const auto& f : c.extra) emit(f.key, std::string(f.value), f.number);
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"";
    const auto since = msg.time.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds).count();
    const std::time_t t = seconds.count();
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    line += buffer;
    line += "\",\"level\":";
    const auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(line, std::string_view(level.data(), level.size()));
    line += ",\"message\":";
    append_json_string(line, std::string_view(msg.payload.data(), msg.payload.size()));
    if (current_context) {
      each_field(*current_context, [&line](std::string_view key, const std::string& value, bool number) {
        line += ',';
        append_json_string(line, key);
        line += ':';
        if (number) {
          line += value;
        } else {
          append_json_string(line, value);
        }
      });
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// Per key: a window of 10 s, a burst of 5 lines in it, then count.
class Limiter {
 public:
  /// True when a line for `key` may be written; `suppressed` gets how many
  /// were held back since the last one written.
  bool admit(std::string_view key, std::uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (buckets_.size() >= kMaxKeys && !buckets_.contains(std::string(key))) {
      std::erase_if(buckets_, [&](const auto& b) { return now - b.second.start >= kWindow && b.second.held == 0; });
    }
    // Too many distinct keys: they share one bucket (bounded memory).
    Bucket& b = buckets_.size() >= kMaxKeys && !buckets_.contains(std::string(key)) ? overflow_
                                                                                     : buckets_[std::string(key)];
    if (now - b.start >= kWindow) {
      b.start = now;
      b.written = 0;
    }
    if (b.written >= kBurst) {
      ++b.held;
      return false;
    }
    ++b.written;
    suppressed = b.held;
    b.held = 0;
    return true;
  }

 private:
  static constexpr std::size_t kMaxKeys = 1024, kBurst = 5;
  static constexpr std::chrono::seconds kWindow{10};
  struct Bucket {
    std::chrono::steady_clock::time_point start{};
    std::size_t written = 0;
    std::uint64_t held = 0;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  Bucket overflow_;
};

Limiter& limiter() {
  static Limiter instance;
  return instance;
}

}  // namespace

void set_json(bool json) { json_mode.store(json, std::memory_order_relaxed); }

std::unique_ptr<spdlog::formatter> json_formatter() { return std::make_unique<JsonFormatter>(); }

void write(spdlog::level::level_enum level, const Context& context, std::string_view message) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  if (json_mode.load(std::memory_order_relaxed)) {
    current_context = &context;
    logger->log(level, spdlog::string_view_t(message.data(), message.size()));
    current_context = nullptr;
    return;
  }
  std::string line(message);
  each_field(context, [&line](std::string_view key, const std::string& value, bool) {
    line += ' ';
    line += key;
    line += '=';
    append_text_value(line, value);
  });
  logger->log(level, spdlog::string_view_t(line.data(), line.size()));
}

void limited(spdlog::level::level_enum level, std::string_view key, const Context& context, std::string_view message) {
  if (!enabled(level)) return;
  std::uint64_t suppressed = 0;
  if (!limiter().admit(key, suppressed)) return;
  if (suppressed == 0) return write(level, context, message);
  const std::string count = std::to_string(suppressed);
  std::vector<Field> extra(context.extra.begin(), context.extra.end());
  extra.push_back({"suppressed", count, true});
  Context with_count = context;
  with_count.extra = extra;
  write(level, with_count, std::string(message) + " (" + count + " similar messages suppressed before this one)");
}

}  // namespace sluice::log
