#include "sluice/server/publish_service.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "sluice/net/event_loop.hpp"
#include "sluice/util/json_text.hpp"
#include "sluice/topic/topic.hpp"

namespace sluice::server {

namespace json = boost::json;

PublishService::PublishService(broker::Broker& broker, IdempotencyIndex& idempotency, PublishLimits limits)
    : broker_(broker), idempotency_(idempotency), limits_(limits) {}

PublishService::Outcome PublishService::parse(const json::value& value, std::string_view raw, std::string_view where,
                                              std::initializer_list<std::string_view> envelope_fields,
                                              Input& out) const {
  auto refuse = [](PublishError error, std::string message) {
    Outcome o;
    o.error = error;
    o.message = std::move(message);
    return o;
  };
  auto name = [&](std::string_view field) {
    return where.empty() ? "\"" + std::string(field) + "\"" : std::string(where) + std::string(field);
  };
  const json::object* o = value.if_object();
  if (!o) {
    return refuse(PublishError::invalid, (where.empty() ? std::string("the event") : std::string(where.substr(0, where.size() - 1))) +
                                             " must be a JSON object, got " + std::string(util::kind_of(value)));
  }
  for (const auto& [field, v] : *o) {
    if (field == "topic" || field == "data" || field == "type" || field == "key" || field == "idempotencyKey") continue;
    if (std::find(envelope_fields.begin(), envelope_fields.end(), std::string_view(field)) != envelope_fields.end()) {
      continue;
    }
    return refuse(PublishError::invalid,
                  "unknown field " + name(field) + " (an event has topic, data, type, key and idempotencyKey)");
  }
  const json::value* topic = o->if_contains("topic");
  if (!topic || !topic->is_string()) {
    return refuse(PublishError::invalid, name("topic") + (topic ? " must be a string, got " + std::string(util::kind_of(*topic))
                                                                 : std::string(" is required (a string)")));
  }
  out.request.topic = std::string(topic->get_string());
  if (auto why = topic::topic_error(out.request.topic); !why.empty()) {
    return refuse(PublishError::invalid_topic, name("topic") + ": invalid topic " + util::quoted(out.request.topic) + ": " + why);
  }
  const json::value* data = o->if_contains("data");
  if (!data) return refuse(PublishError::invalid, name("data") + " is required (any JSON value, null included)");
  // Published as written (minus whitespace); compared in canonical form.
  const auto raw_data = util::raw_member(raw, "data");
  std::string canonical;
  if (raw_data) {
    out.request.data = util::minify(*raw_data);
  } else {
    canonical = json::serialize(*data);
    out.request.data = canonical;
  }
  for (auto [field, target, max] : {std::tuple{"type", &out.request.type, limits_.max_type_bytes},
                                    std::tuple{"key", &out.request.key, limits_.max_key_bytes},
                                    std::tuple{"idempotencyKey", &out.request.idempotency_key,
                                               limits_.max_idempotency_key_bytes}}) {
    const json::value* v = o->if_contains(field);
    if (!v || v->is_null()) continue;
    if (!v->is_string()) {
      return refuse(PublishError::invalid, name(field) + " must be a string, got " + std::string(util::kind_of(*v)));
    }
    if (v->get_string().size() > max) {
      return refuse(PublishError::invalid, name(field) + " is longer than " + std::to_string(max) + " bytes");
    }
    *target = std::string(v->get_string());
  }
  if (!out.request.idempotency_key.empty()) {
    if (canonical.empty()) canonical = json::serialize(*data);
    out.request.idempotency_print =
        IdempotencyIndex::fingerprint(out.request.topic, out.request.type, out.request.key, canonical);
  }
  return {};
}

PublishService::Outcome PublishService::store_outcome(std::error_code error) {
  Outcome o;
  if (error == broker::Error::too_many_topics) {
    o.error = PublishError::too_many_topics;
    o.message = "the topic does not exist and the server already has as many topics as it allows (max-topics); "
                "publish to an existing topic";
  } else if (error == broker::Error::engine_unavailable) {
    o.error = PublishError::engine_unavailable;
    o.message = "the engine (Redis) cannot be reached; nothing was published; retry shortly";
  } else if (error == std::errc::resource_unavailable_try_again || error == std::errc::operation_canceled) {
    o.error = PublishError::store_busy;
    o.message = "the event store is busy; retry shortly";
  } else {
    o.error = PublishError::store_failed;
    o.message = "the event store failed: " + (error ? error.message() : std::string("unknown error"));
  }
  return o;
}

PublishService::Outcome PublishService::repeat_outcome(const IdempotencyIndex::Answer& answer) {
  using Kind = IdempotencyIndex::Answer::Kind;
  Outcome o;
  switch (answer.kind) {
    case Kind::duplicate:
      o.event = answer.event;
      o.replayed = true;
      return o;
    case Kind::conflict:
      o.error = PublishError::key_conflict;
      o.message = "idempotencyKey was already used for a different event (topic, type, key or data differ)";
      return o;
    case Kind::failed:
      break;
  }
  if (answer.error == std::errc::operation_canceled) {
    // Claimed by a batch that then did not publish it: nothing was published.
    o.error = PublishError::key_in_flight;
    o.message = "idempotencyKey was claimed by a request that did not publish it; retry";
    return o;
  }
  return store_outcome(answer.error);
}

// One publish between its hand-off to the broker and `done`. Owned by
// whichever finishes last: the broker's completion, or the submitting thread
// once it let go of hand_off_ (in memory mode the completion runs inline,
// under it, and only records).
struct PublishService::Single {
  Done done;
  std::string key;  // idempotencyKey, "" when none
  broker::EventPtr event;
  std::error_code error;
  std::atomic<bool> completed{false};  // the broker's outcome is in (at most once)
  std::atomic<int> pending{2};
};

void PublishService::settle(const std::string& key, const broker::EventPtr& event, std::error_code error,
                            std::error_code failure) {
  if (key.empty()) return;
  if (error == broker::Error::idempotency_conflict) {
    // The engine had the key for other content, which is not known here: this node's waiters retry.
    return idempotency_.abandon(key, std::make_error_code(std::errc::operation_canceled));
  }
  if (!event || (error && error != broker::Error::idempotent_repeat)) return idempotency_.abandon(key, failure);
  // With a shared engine the key's window runs from the event's time, so no
  // node remembers it longer than Redis does (Redis counts from its append).
  if (broker_.shared_engine()) return idempotency_.complete(key, PublishedEvent::of(*event), event->time_ms);
  idempotency_.complete(key, PublishedEvent::of(*event));
}

void PublishService::finish(Single* single) {
  if (single->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  std::unique_ptr<Single> owned(single);
  const bool repeat = owned->error == broker::Error::idempotent_repeat;  // published first on another node
  if (!owned->event || (owned->error && !repeat)) {
    // The key is released first: a retry after this answer may publish.
    settle(owned->key, owned->event, owned->error, owned->error);
    if (owned->error == broker::Error::idempotency_conflict) {
      return owned->done(repeat_outcome({IdempotencyIndex::Answer::Kind::conflict, {}, {}}));
    }
    return owned->done(store_outcome(owned->error));
  }
  Outcome outcome;
  outcome.event = PublishedEvent::of(*owned->event);
  outcome.replayed = repeat;
  // The first publish is answered before its repeats (they wait on the key).
  owned->done(std::move(outcome));
  settle(owned->key, owned->event, owned->error, owned->error);
}

void PublishService::publish(Input input, Done done) {
  const std::string& key = input.request.idempotency_key;
  if (!key.empty()) {
    IdempotencyIndex::Answer answer;
    IdempotencyIndex::Claim claim;
    try {
      // A repeat of a key still in flight is answered once the first one settles.
      claim = idempotency_.claim(key, input.request.idempotency_print, answer,
                                 [done](const IdempotencyIndex::Answer& a) { done(repeat_outcome(a)); });
    } catch (...) {
      return done(store_outcome(std::make_error_code(std::errc::io_error)));
    }
    if (claim == IdempotencyIndex::Claim::waiting) return;
    if (claim == IdempotencyIndex::Claim::answered) return done(repeat_outcome(answer));
    // Claim::owned: this publish settles the key once it is stored (or not).
  }
  hold_commits_for_this_turn();
  auto* single = new Single;
  single->done = std::move(done);
  single->key = key;
  // [this, single]: small enough for std::function to keep without allocating.
  auto complete = [this, single](broker::EventPtr event, std::error_code ec) {
    if (single->completed.exchange(true)) return;  // at most once
    single->event = std::move(event);
    single->error = single->event || ec ? ec : std::make_error_code(std::errc::io_error);
    finish(single);
  };
  {
    std::shared_lock shared(hand_off_);
    try {
      broker_.publish_async(std::move(input.request), complete);
    } catch (...) {
      complete(nullptr, std::make_error_code(std::errc::io_error));  // not queued: `complete` never runs otherwise
    }
  }
  finish(single);
}

void PublishService::publish_batch(std::vector<broker::PublishRequest> requests, BatchDone done) {
  struct State {
    std::vector<BatchResult> results;
    std::unique_ptr<std::atomic<bool>[]> completed;  // per request: its outcome is in
    std::atomic<std::size_t> pending{0};
    std::atomic<bool> failed{false};
    BatchDone done;
  };
  const std::size_t n = requests.size();
  auto state = std::make_shared<State>();
  state->results.resize(n);
  state->completed = std::make_unique<std::atomic<bool>[]>(n);
  state->pending = n + 1;  // + 1 for this thread, released once it let go of hand_off_
  state->done = std::move(done);
  auto finish_one = [](const std::shared_ptr<State>& s) {
    if (s->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) s->done(std::move(s->results));
  };
  auto complete = [finish_one](const std::shared_ptr<State>& s, std::size_t i, broker::EventPtr event,
                               std::error_code ec) {
    if (s->completed[i].exchange(true)) return;  // at most once per request
    // An idempotent repeat keeps its error with the first publish's event.
    s->results[i].event = std::move(event);
    s->results[i].error = s->results[i].event || ec ? ec : std::make_error_code(std::errc::io_error);
    if (!s->results[i].event) s->failed.store(true);
    finish_one(s);
  };
  hold_commits_for_this_turn();
  {
    std::unique_lock exclusive(hand_off_);
    for (std::size_t i = 0; i < n; ++i) {
      if (state->failed.load()) {
        complete(state, i, nullptr, std::make_error_code(std::errc::operation_canceled));
        continue;
      }
      try {
        broker_.publish_async(std::move(requests[i]), [state, i, complete](broker::EventPtr event, std::error_code ec) {
          complete(state, i, std::move(event), ec);
        });
      } catch (...) {
        complete(state, i, nullptr, std::make_error_code(std::errc::io_error));
      }
    }
  }
  finish_one(state);
}

// The publishes of one loop turn (every frame and request read in it, over
// HTTP, /v1/ws and the Centrifugo protocol) wake the durable store's writer
// once, when the turn ends: one group commit and one fan-out batch, not one
// per publish. Off a loop thread (tests), or with nothing to batch (memory,
// Redis), nothing is held.
void PublishService::hold_commits_for_this_turn() {
  if (!broker_.engine_batches_wakeups()) return;
  net::EventLoop* loop = net::EventLoop::current();
  if (!loop) return;
  thread_local std::vector<const PublishService*> holding;  // services this loop holds for: usually one
  if (std::find(holding.begin(), holding.end(), this) != holding.end()) return;
  holding.push_back(this);
  broker_.hold_engine_wakeups();
  // Runs on this loop's thread after what this turn read; dropped (with the
  // hold) only when the loop stops, and a stopping log writes what is queued.
  loop->post([this] {
    std::erase(holding, this);
    broker_.release_engine_wakeups();
  });
}

}  // namespace sluice::server
