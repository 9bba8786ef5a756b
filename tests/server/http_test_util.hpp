// Helpers for the HTTP API tests: call HttpApi::handle() directly with a
// request and capture the response (no sockets), and an in-memory EventStore.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/engine/store_subscriptions.hpp"
#include "sluice/broker/broker.hpp"
#include "server/http/http_api.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::test {

namespace json = boost::json;
using server::HttpRequest;
using server::HttpResponse;

struct Reply {
  unsigned status = 0;
  json::value body;  // null when the body is empty or not JSON
  HttpResponse raw;

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : raw.headers) {
      if (n == name) return v;
    }
    return {};
  }
  bool has_header(std::string_view name) const {
    for (const auto& [n, v] : raw.headers) {
      if (n == name) return true;
    }
    return false;
  }
  // The SPEC error shape: exactly {"error": code, "message": text}.
  std::string error() const {
    if (!body.is_object()) return "<not an object>";
    const auto& o = body.get_object();
    if (o.size() != 2 || !o.contains("message") || !o.at("message").is_string() || !o.contains("error") ||
        !o.at("error").is_string()) {
      return "<not the error shape: " + json::serialize(body) + ">";
    }
    return std::string(o.at("error").get_string());
  }
  std::string message() const {
    return body.is_object() && body.get_object().contains("message") ? std::string(body.at("message").as_string())
                                                                      : std::string();
  }
};

/// The body of POST /v1/events for one event: {"topic": topic, "data": data}.
inline json::object event_body(const std::string& topic, json::value data) {
  return json::object{{"topic", topic}, {"data", std::move(data)}};
}

inline Reply to_reply(HttpResponse response) {
  Reply r;
  r.status = response.status;
  if (!response.body.empty()) {
    std::error_code ec;
    r.body = json::parse(response.body, ec);
    if (ec) r.body = nullptr;
  }
  r.raw = std::move(response);
  return r;
}

inline HttpRequest make_request(std::string method, std::string target, std::string body = {},
                                std::vector<std::pair<std::string, std::string>> headers = {},
                                std::string ip = "192.0.2.1") {
  HttpRequest r;
  r.method = std::move(method);
  r.target = target;
  const auto q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? std::string() : target.substr(q + 1);
  r.headers = std::move(headers);
  r.body = std::move(body);
  r.remote_ip = std::move(ip);
  return r;
}

/// Calls handle() and returns the response, checking it is given exactly
/// once. It may come from another thread (a publish waiting on the same
/// idempotencyKey): waits up to 10 s for it.
inline Reply call(server::HttpApi& api, HttpRequest request) {
  struct Slot {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<HttpResponse> got;
  };
  auto slot = std::make_shared<Slot>();
  api.handle(std::move(request), [slot](HttpResponse r) {
    std::lock_guard lock(slot->mutex);
    slot->got.push_back(std::move(r));
    slot->cv.notify_all();
  });
  std::unique_lock lock(slot->mutex);
  const bool answered = slot->cv.wait_for(lock, std::chrono::seconds(10), [&] { return !slot->got.empty(); });
  EXPECT_TRUE(answered) << "no response";
  EXPECT_LE(slot->got.size(), 1u) << "respond called more than once";
  if (!answered) return {};
  return to_reply(slot->got.front());
}

/// A query value, percent-encoded.
inline std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// A controllable clock for the idempotency window and the rate limiter.
struct FakeClock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(1'800'000'000'000);
  server::HttpApi::Clock clock() const {
    return [n = now] { return n->load(); };
  }
  void advance(std::int64_t ms) { now->fetch_add(ms); }
};

/// An EventStore in memory, thread-safe; counts subscription writes and can
/// be told to fail them.
class MemoryStore : public store::EventStore {
 public:
  std::error_code append(std::span<const store::StoredEvent> batch) override {
    std::lock_guard lock(mutex_);
    for (const auto& e : batch) events_.push_back(e);
    return {};
  }
  std::vector<store::TopicPosition> load_positions() override {
    std::lock_guard lock(mutex_);
    std::map<std::string, store::TopicPosition> by_topic;
    for (const auto& e : events_) {
      auto& p = by_topic[e.topic];
      p.topic = e.topic;
      p.epoch = e.epoch;
      p.last_offset = std::max(p.last_offset, e.offset);
    }
    std::vector<store::TopicPosition> out;
    for (auto& [t, p] : by_topic) out.push_back(p);
    return out;
  }
  std::vector<store::StoredEvent> load_recent(std::size_t, std::int64_t) override { return {}; }
  std::vector<store::StoredEvent> read(std::string_view topic, std::uint64_t after, std::size_t limit) override {
    std::lock_guard lock(mutex_);
    ++reads;
    std::vector<store::StoredEvent> out;
    for (const auto& e : events_) {
      if (out.size() >= limit) break;
      if (e.topic == topic && e.offset > after) out.push_back(e);
    }
    return out;
  }
  std::optional<store::StoredEvent> find(std::string_view id) override {
    std::lock_guard lock(mutex_);
    for (const auto& e : events_) {
      if (e.id == id) return e;
    }
    return std::nullopt;
  }
  std::optional<store::StoredEvent> find_idempotent(std::string_view key, std::int64_t min_time_ms) override {
    std::lock_guard lock(mutex_);
    for (const auto& e : events_) {
      if (!key.empty() && e.idempotency_key == key && e.time_ms >= min_time_ms) return e;
    }
    return std::nullopt;
  }
  std::error_code trim(std::string_view, std::uint64_t) override { return {}; }
  std::error_code put_subscription(const store::StoredSubscription& s) override {
    std::lock_guard lock(mutex_);
    if (fail_subscription_writes) return std::make_error_code(std::errc::io_error);
    subscriptions_[s.id] = s.json;
    ++subscription_writes;
    return {};
  }
  std::error_code delete_subscription(std::string_view id) override {
    std::lock_guard lock(mutex_);
    if (fail_subscription_writes) return std::make_error_code(std::errc::io_error);
    return subscriptions_.erase(std::string(id)) > 0 ? std::error_code{}
                                                     : std::make_error_code(std::errc::no_such_file_or_directory);
  }
  std::vector<store::StoredSubscription> load_subscriptions() override {
    std::lock_guard lock(mutex_);
    std::vector<store::StoredSubscription> out;
    for (const auto& [id, text] : subscriptions_) out.push_back({id, text});
    return out;
  }
  std::string last_error() const override { return fail_subscription_writes ? "disk on fire" : ""; }

  void put_raw_subscription(std::string id, std::string text) {
    std::lock_guard lock(mutex_);
    subscriptions_[std::move(id)] = std::move(text);
  }
  std::size_t subscription_count() {
    std::lock_guard lock(mutex_);
    return subscriptions_.size();
  }

  std::atomic<bool> fail_subscription_writes{false};
  std::atomic<int> subscription_writes{0};
  std::atomic<int> reads{0};

 private:
  std::mutex mutex_;
  std::vector<store::StoredEvent> events_;
  std::map<std::string, std::string> subscriptions_;
};

/// A broker (no loops to dispatch to), a registry and the API over them.
struct ApiFixture {
  explicit ApiFixture(server::ApiLimits limits = {}, store::EventStore* store = nullptr,
                      broker::HistoryLimits history = {}, std::size_t id_index_size = 100'000)
      : broker([](const broker::EventPtr&) {}, history, static_cast<store::GroupCommitLog*>(nullptr), id_index_size),
        subscription_store(store ? std::make_unique<engine::StoreSubscriptions>(*store) : nullptr),
        registry(subscription_store.get()),
        api(broker, registry, store, limits, clock.clock()) {}

  Reply get(const std::string& target, std::string ip = "192.0.2.1") {
    return call(api, make_request("GET", target, {}, {}, std::move(ip)));
  }
  Reply post(const std::string& target, const std::string& body,
             std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}}) {
    return call(api, make_request("POST", target, body, std::move(headers)));
  }
  Reply post(const std::string& target, const char* body) { return post(target, std::string(body)); }
  Reply post(const std::string& target, const json::value& body) { return post(target, json::serialize(body)); }
  Reply del(const std::string& target) { return call(api, make_request("DELETE", target)); }

  FakeClock clock;
  broker::Broker broker;
  std::unique_ptr<engine::StoreSubscriptions> subscription_store;  // null without a store
  server::SubscriptionRegistry registry;
  server::HttpApi api;
};

}  // namespace sluice::test
