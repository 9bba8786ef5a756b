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

/// What an event is built from (make_event copies every byte it needs: the
/// views only have to live through that call).
struct EventFields {
  std::string_view id;
  std::string_view topic;
  std::uint64_t offset = 0;
  std::string_view epoch;
  std::string_view type;  ///< "" when absent
  std::string_view key;   ///< "" when absent
  std::int64_t time_ms = 0;
  std::string_view data;  ///< serialized JSON, written into the event as is
};

/// Built only by make_event. id, epoch, data and json are views into `frame`
/// (or into the event itself): an event is three allocations (the event, the
/// frame's string and its bytes), not six; trimming history frees that many.
struct Event {
  std::string_view id;   ///< unique, "evt_" + 24 hex digits
  std::string topic;
  std::uint64_t offset = 0;  ///< monotonic per topic, from 1
  std::string_view epoch;    ///< changes only when the topic's history is reset
  std::string type;      ///< optional event type ("" when absent)
  std::string key;       ///< optional key ("" when absent)
  std::int64_t time_ms = 0;  ///< publish time, milliseconds since the Unix epoch
  std::string_view data;     ///< the data as serialized JSON

  /// {"id":..,"topic":..,"offset":..,"epoch":..,"type"?,"key"?,"time":"ISO-8601","data":..}
  /// A view into `frame` (which carries it): one buffer per event, not two.
  std::string_view json;
  /// An unmasked WebSocket text frame carrying {"type":"event","event":<json>},
  /// built once and shared by every subscriber's send queue.
  std::shared_ptr<const std::string> frame;

  Event() = default;
  Event(const Event&) = delete;  // the views point into this object's buffers
  Event& operator=(const Event&) = delete;

  /// `data` parsed, once, on first use (filters and counters need it; most
  /// deliveries do not). Thread-safe: an Event is shared across loops.
  const boost::json::value& parsed_data() const;

  /// The cache behind parsed_data(): allocated only when first asked for (most
  /// events never are), published with one compare-and-swap. Movable on its
  /// own; an Event itself never moves (its views point into it).
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

  /// A frame another client protocol sends for this event (the `pub` push of
  /// /connection/websocket, src/centrifugo), built on the first use and then
  /// shared by every recipient, like `frame`: serialized once per protocol,
  /// not per subscriber. Thread-safe (published with one compare-and-swap).
  class LazyFrame {
   public:
    using Frame = std::shared_ptr<const std::string>;
    LazyFrame() = default;
    LazyFrame(const LazyFrame&) = delete;
    LazyFrame& operator=(const LazyFrame&) = delete;
    ~LazyFrame() { delete value_.load(std::memory_order_acquire); }
    /// The cached frame, or the one `build()` (returning a Frame) makes now.
    template <class Build>
    const Frame& get(Build&& build) const {
      if (const Frame* value = value_.load(std::memory_order_acquire)) return *value;
      auto fresh = std::make_unique<Frame>(build());
      const Frame* expected = nullptr;
      if (value_.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) return *fresh.release();
      return *expected;  // another thread built it first
    }

   private:
    mutable std::atomic<const Frame*> value_{nullptr};
  };
  LazyFrame centrifugo_frame;

  /// An id or epoch the frame holds escaped (never one of ours): the raw text.
  std::string spill;
};

using EventPtr = std::shared_ptr<const Event>;

/// Builds an event (its json and frame) from its fields. Thread-safe, pure.
EventPtr make_event(const EventFields& fields);

/// "2026-11-22T17:43:54.123Z" for a time in milliseconds since the Unix epoch.
std::string format_time(std::int64_t time_ms);

}  // namespace sluice::broker
