// Shared pieces of the topic-layer tests: a recorder of what a TopicClient
// delivers (events per subscription, statuses) and topic-client options with
// test-sized delays.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "client/test_support.hpp"
#include "sluice/client/topic_client.hpp"

namespace sluice::test {

/// What one subscription saw. Thread-safe; notifies `signal` on every change.
struct TopicRecorder {
  mutable std::mutex mutex;
  Signal signal;
  std::vector<client::TopicEvent> events;
  std::vector<client::SubscriptionStatus> statuses;

  client::EventHandler handler() {
    return [this](const client::TopicEvent& e) {
      {
        std::lock_guard lock(mutex);
        events.push_back(e);
      }
      signal.notify();
    };
  }
  client::SubscribeOptions options(client::SubscribeOptions o = {}) {
    o.on_status = [this](const client::SubscriptionStatus& s) {
      {
        std::lock_guard lock(mutex);
        statuses.push_back(s);
      }
      signal.notify();
    };
    return o;
  }
  std::size_t event_count() const {
    std::lock_guard lock(mutex);
    return events.size();
  }
  std::size_t status_count() const {
    std::lock_guard lock(mutex);
    return statuses.size();
  }
  std::vector<client::TopicEvent> copy_events() const {
    std::lock_guard lock(mutex);
    return events;
  }
  std::vector<client::SubscriptionStatus> copy_statuses() const {
    std::lock_guard lock(mutex);
    return statuses;
  }
  bool wait_events(std::size_t n, std::chrono::milliseconds bound = kWait) {
    return signal.wait([&] { return event_count() >= n; }, bound);
  }
  bool wait_statuses(std::size_t n, std::chrono::milliseconds bound = kWait) {
    return signal.wait([&] { return status_count() >= n; }, bound);
  }
};

/// A Sluice server's in-band endpoint on loopback.
inline std::string inband_url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/v1/ws"; }

inline client::TopicClientOptions fast_topic_options() {
  client::TopicClientOptions o;
  o.client = fast_options();
  return o;
}

}  // namespace sluice::test
