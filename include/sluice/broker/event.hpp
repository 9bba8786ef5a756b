// A published event (SPEC §3): immutable once built, shared by every loop and
// recipient. Its JSON and its WebSocket frame are serialized exactly once.
#pragma once

#include <cstdint>
#include <boost/json/value.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::broker {

struct Event {
  std::string id;        ///< unique, "evt_" + 24 hex digits
  std::string topic;
  std::uint64_t offset;  ///< monotonic per topic, from 1
  std::string epoch;     ///< changes only when the topic's history is reset
  std::string type;      ///< optional event type ("" when absent)
  std::string key;       ///< optional key ("" when absent)
  std::int64_t time_ms;  ///< publish time, milliseconds since the Unix epoch
  std::string data;      ///< the data as serialized JSON

  /// {"id":..,"topic":..,"offset":..,"epoch":..,"type"?,"key"?,"time":"ISO-8601","data":..}
  /// A view into `frame` (which carries it): one buffer per event, not two.
  std::string_view json;
  /// An unmasked WebSocket text frame carrying {"type":"event","event":<json>},
  /// built once and shared by every subscriber's send queue.
  std::shared_ptr<const std::string> frame;

  /// `data` parsed, once, on first use (filters and counters need it; most
  /// deliveries do not). Thread-safe: an Event is shared across loops.
  const boost::json::value& parsed_data() const;

  /// The cache behind parsed_data(): allocated only when first asked for (most
  /// events never are), published with one compare-and-swap. Moves with the Event.
  class ParsedData {
   public:
    ParsedData() = default;
    ParsedData(ParsedData&& other) noexcept : value_(other.value_.exchange(nullptr)) {}
    ParsedData& operator=(ParsedData&& other) noexcept {
      if (this != &other) delete value_.exchange(other.value_.exchange(nullptr));
      return *this;
    }
    ~ParsedData() { delete value_.load(std::memory_order_acquire); }
    /// The cached value, or one parsed from `json_text` (invalid JSON reads as null).
    const boost::json::value& get(std::string_view json_text) const;

   private:
    mutable std::atomic<boost::json::value*> value_{nullptr};
  };
  ParsedData parsed;
};

using EventPtr = std::shared_ptr<const Event>;

/// Builds an event's json and frame from its fields. Thread-safe, pure.
EventPtr make_event(Event fields);

/// "2026-11-22T17:43:54.123Z" for a time in milliseconds since the Unix epoch.
std::string format_time(std::int64_t time_ms);

}  // namespace sluice::broker
