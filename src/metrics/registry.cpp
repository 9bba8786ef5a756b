#include "sluice/metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace sluice::metrics {

namespace detail {

std::size_t shard() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return mine;
}

}  // namespace detail

std::uint64_t Counter::value() const noexcept {
  std::uint64_t sum = 0;
  for (const auto& s : shards_) sum += s.value.load(std::memory_order_relaxed);
  return sum;
}

void Gauge::set(std::int64_t v) noexcept {
  for (auto& s : shards_) s.value.store(0, std::memory_order_relaxed);
  shards_[0].value.store(v, std::memory_order_relaxed);
}

std::int64_t Gauge::value() const noexcept {
  std::int64_t sum = 0;
  for (const auto& s : shards_) sum += s.value.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  for (auto& s : shards_) {
    s.counts = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) s.counts[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observe(double v) noexcept {
  // The first bucket whose bound is >= v (Prometheus' "le"), else +Inf.
  const auto at = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  Shard& s = shards_[detail::shard()];
  s.counts[at].fetch_add(1, std::memory_order_relaxed);
  s.sum.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot out;
  out.cumulative.assign(bounds_.size() + 1, 0);
  for (const auto& s : shards_) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) out.cumulative[i] += s.counts[i].load(std::memory_order_relaxed);
    out.sum += s.sum.load(std::memory_order_relaxed);
  }
  for (std::size_t i = 1; i < out.cumulative.size(); ++i) out.cumulative[i] += out.cumulative[i - 1];
  return out;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  std::vector<double> out;
  for (double b = start; out.size() < count; b *= factor) out.push_back(b);
  return out;
}

Registry::Series& Registry::series(const std::string& name, const std::string& help, Type type, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(families_.begin(), families_.end(), [&](const auto& f) { return f->name == name; });
  if (it == families_.end()) {
    families_.push_back(std::make_unique<Family>(Family{name, help, type, {}}));
    it = families_.end() - 1;
  } else if ((*it)->type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  for (auto& s : (*it)->series) {
    if (s->labels == labels) return *s;
  }
  (*it)->series.push_back(std::make_unique<Series>());
  (*it)->series.back()->labels = labels;
  return *(*it)->series.back();
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  Series& s = series(name, help, Type::counter, labels);
  std::lock_guard lock(mutex_);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  Series& s = series(name, help, Type::gauge, labels);
  std::lock_guard lock(mutex_);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                               const Labels& labels) {
  Series& s = series(name, help, Type::histogram, labels);
  std::lock_guard lock(mutex_);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *s.histogram;
}

void Registry::callback(const std::string& name, const std::string& help, Type type, const Labels& labels,
                        std::function<double()> read) {
  Series& s = series(name, help, type, labels);
  std::lock_guard lock(mutex_);
  s.read = std::move(read);
}

namespace {

// Label values escape backslash, double quote and newline; help text
// backslash and newline (exposition format 0.0.4).
void append_escaped(std::string& out, const std::string& text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void append_labels(std::string& out, const Labels& labels, const char* extra_name = nullptr,
                   const std::string& extra_value = {}) {
  if (labels.empty() && !extra_name) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(8192);
  for (const auto& family : families_) {
    out += "# HELP " + family->name + ' ';
    append_escaped(out, family->help, false);
    out += "\n# TYPE " + family->name + ' ';
    out += family->type == Type::counter ? "counter" : family->type == Type::gauge ? "gauge" : "histogram";
    out += '\n';
    for (const auto& s : family->series) {
      if (family->type == Type::histogram && s->histogram) {
        const auto snap = s->histogram->snapshot();
        const auto& bounds = s->histogram->bounds();
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
          std::string le;
          append_number(le, i < bounds.size() ? bounds[i] : INFINITY);
          out += family->name + "_bucket";
          append_labels(out, s->labels, "le", le);
          out += ' ' + std::to_string(snap.cumulative[i]) + '\n';
        }
        out += family->name + "_sum";
        append_labels(out, s->labels);
        out += ' ';
        append_number(out, snap.sum);
        out += '\n' + family->name + "_count";
        append_labels(out, s->labels);
        out += ' ' + std::to_string(snap.cumulative.back()) + '\n';
        continue;
      }
      out += family->name;
      append_labels(out, s->labels);
      out += ' ';
      if (s->read) {
        append_number(out, s->read());
      } else if (s->counter) {
        out += std::to_string(s->counter->value());
      } else if (s->gauge) {
        out += std::to_string(s->gauge->value());
      } else {
        out += '0';
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace sluice::metrics
