// Events over HTTP: publish one (idempotent with a key), publish a batch,
// query history page by page, and find one event by id.
#include <algorithm>
#include <charconv>
#include <memory>
#include <limits>
#include <set>
#include <unordered_map>
#include <utility>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "server/http/http_api_internal.hpp"
#include "sluice/topic/topic.hpp"
#include "server/http/http_api.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::server {

namespace json = boost::json;
using detail::bad_request;

namespace {

constexpr std::uint64_t kTopicDone = std::numeric_limits<std::uint64_t>::max();  // nothing after it

broker::EventPtr from_stored(const store::StoredEvent& s) {
  return broker::make_event({s.id, s.topic, s.offset, s.epoch, s.type, s.key, s.time_ms, s.data});
}

std::string result_json(std::string_view id, std::string_view topic, std::uint64_t offset, std::string_view epoch) {
  std::string out;
  out.reserve(64 + id.size() + topic.size() + epoch.size());
  out += "{\"id\":";
  util::append_quoted(out, id);
  out += ",\"topic\":";
  util::append_quoted(out, topic);
  out += ",\"offset\":";
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, offset).ptr);
  out += ",\"epoch\":";
  util::append_quoted(out, epoch);
  out += '}';
  return out;
}

HttpResponse created(std::string body, std::string_view id) {
  HttpResponse response = HttpResponse::json(201, std::move(body));
  std::string location;
  location.reserve(11 + id.size());
  location.append("/v1/events/").append(id);
  response.headers.emplace_back("Location", std::move(location));
  return response;
}

HttpResponse replayed(std::string body) {
  return detail::with_header(HttpResponse::json(200, std::move(body)), "Idempotent-Replayed", "true");
}

HttpResponse key_conflict(std::string_view key) {
  return HttpResponse::error(409, "idempotency_conflict",
                             "idempotencyKey " + util::quoted(key) +
                                 " was already used for a different event (topic, type, key or data differ)");
}

HttpResponse key_in_flight(std::string_view key) {
  return HttpResponse::error(409, "idempotency_conflict",
                             "idempotencyKey " + util::quoted(key) + " is being published by another request; retry");
}

// Position in a paged history query: events of `topic` up to `offset` were
// seen; the next page starts after it. Topics are visited in byte order.
struct Cursor {
  std::string topic;
  std::uint64_t offset = 0;
};

std::string encode_cursor(const Cursor& c) {
  return detail::base64url_encode(std::to_string(c.offset) + ":" + c.topic);
}

bool decode_cursor(std::string_view text, Cursor& out) {
  std::string raw;
  if (!detail::base64url_decode(text, raw)) return false;
  const std::size_t colon = raw.find(':');
  if (colon == std::string::npos || !detail::parse_uint(std::string_view(raw).substr(0, colon), out.offset)) {
    return false;
  }
  out.topic = raw.substr(colon + 1);
  return topic::topic_error(out.topic).empty();
}

// GET /v1/events' answer: {"events": [...], "nextCursor": "..." | null}.
std::string page_json(const std::vector<broker::EventPtr>& page, const std::optional<Cursor>& next) {
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < page.size(); ++i) {
    if (i > 0) out += ',';
    out += page[i]->json;
  }
  out += "],\"nextCursor\":";
  out += next ? util::quoted(encode_cursor(*next)) : "null";
  out += '}';
  return out;
}

}  // namespace

// Validates one event object through the publish door (`raw`: its text, for
// `data` as written); `where` prefixes field names in messages ("" for POST
// /v1/events, "events[3]." in a batch).
std::optional<HttpResponse> HttpApi::parse_event(const json::value& value, std::string_view raw,
                                                 const std::string& where, PublishService::Input& out) const {
  const auto refused = publisher_->parse(value, raw, where, {}, out);
  if (refused.error == PublishError::none) return std::nullopt;
  return HttpResponse::error(400, refused.error == PublishError::invalid_topic ? "invalid_topic" : "bad_request",
                             refused.message);
}

namespace {

// The HTTP wording of a publish that was not published (or of a repeat).
HttpResponse failure(const PublishService::Outcome& o, std::string_view key, std::string_view what) {
  switch (o.error) {
    case PublishError::key_conflict:
      return key_conflict(key);
    case PublishError::key_in_flight:
      return HttpResponse::error(409, "idempotency_conflict", "idempotencyKey " + util::quoted(key) +
                                                                  " was claimed by a request that did not publish it; retry");
    case PublishError::store_busy:
      return detail::with_header(HttpResponse::error(503, "store_busy", std::string(what) + ": " + o.message),
                                 "Retry-After", "1");
    case PublishError::engine_unavailable:
      return detail::with_header(HttpResponse::error(503, "engine_unavailable", std::string(what) + ": " + o.message),
                                 "Retry-After", "1");
    case PublishError::too_many_topics:
      // 507 Insufficient Storage: the server cannot keep one more topic; no
      // Retry-After, as topics are not removed while it runs.
      return HttpResponse::error(507, "too_many_topics", std::string(what) + ": " + o.message);
    case PublishError::invalid:
    case PublishError::invalid_topic:
      return HttpResponse::error(400, o.error == PublishError::invalid ? "bad_request" : "invalid_topic", o.message);
    case PublishError::none:
    case PublishError::store_failed:
      break;
  }
  return HttpResponse::error(503, "store_unavailable", std::string(what) + ": " + o.message);
}

}  // namespace

// POST /v1/events: 201 {id, topic, offset, epoch} once the event is durable;
// a repeated idempotencyKey within the window: 200 with the first result and
// Idempotent-Replayed: true.
std::optional<HttpResponse> HttpApi::post_event(const HttpRequest& request, HttpRespond& respond) {
  // The body's DOM lives on the stack (most bodies fit), not in the heap.
  unsigned char dom_buffer[4096];
  json::monotonic_resource dom_memory(dom_buffer, sizeof dom_buffer);
  json::storage_ptr storage(&dom_memory);
  json::value body(storage);
  if (auto bad = detail::parse_json_body(request, body, storage)) return bad;
  PublishService::Input in;
  if (auto bad = parse_event(body, request.body, "", in)) return bad;
  std::string key = in.request.idempotency_key;
  publisher_->publish(std::move(in), [key = std::move(key), respond = std::exchange(respond, nullptr)](
                                         PublishService::Outcome o) {
    if (o.error != PublishError::none) return respond(failure(o, key, "the event was not published"));
    std::string result = result_json(o.event.id, o.event.topic, o.event.offset, o.event.epoch);
    if (o.replayed) return respond(replayed(std::move(result)));
    respond(created(std::move(result), o.event.id));
  });
  return std::nullopt;
}

// A batch between validation and its answer (shared with the completions).
struct HttpApi::BatchState {
  std::vector<PublishService::Input> inputs;
  std::vector<std::string> results;    // per event, once known
  std::vector<bool> answered;          // known from an idempotencyKey: not published
  std::vector<std::size_t> claimed;    // events whose key this batch owns
  std::vector<std::size_t> published;  // publish position -> event index
  HttpRespond respond;
};

// POST /v1/events/batch: every event is validated before any is published;
// then they are handed to the broker in request order with no other HTTP
// publish in between, so one topic's events get consecutive offsets.
std::optional<HttpResponse> HttpApi::post_batch(const HttpRequest& request, HttpRespond& respond) {
  auto batch = std::make_shared<BatchState>();
  if (auto bad = read_batch(request, *batch)) return bad;
  std::vector<broker::PublishRequest> requests;
  if (auto refused = claim_batch_keys(*batch, requests)) return refused;
  batch->respond = std::exchange(respond, nullptr);
  if (requests.empty()) {
    finish_batch(*batch, {});
  } else {
    publisher_->publish_batch(std::move(requests), [this, batch](std::vector<PublishService::BatchResult> outcomes) {
      finish_batch(*batch, std::move(outcomes));
    });
  }
  return std::nullopt;
}

// The batch's events, each validated, into `batch.inputs`; a 400 for the first fault.
std::optional<HttpResponse> HttpApi::read_batch(const HttpRequest& request, BatchState& batch) const {
  json::value body;
  if (auto bad = detail::parse_json_body(request, body)) return bad;
  const json::object* o = body.if_object();
  if (!o) return bad_request("the body must be a JSON object {\"events\": [...]}");
  for (const auto& [field, v] : *o) {
    if (field != "events") return bad_request("unknown field \"" + std::string(field) + "\" (a batch has events)");
  }
  const json::value* events = o->if_contains("events");
  if (!events || !events->is_array()) {
    return bad_request("\"events\" is required (an array of events)");
  }
  const json::array& list = events->get_array();
  if (list.empty()) return bad_request("\"events\" must not be empty");
  if (list.size() > limits_.max_batch) {
    return bad_request("\"events\" has " + std::to_string(list.size()) + " events; at most " +
                       std::to_string(limits_.max_batch) + " per batch");
  }
  auto& inputs = batch.inputs;
  inputs.resize(list.size());
  const auto raw_events = util::raw_elements(util::raw_member(request.body, "events").value_or(""));
  std::unordered_map<std::string, std::size_t> keys;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "events[" + std::to_string(i) + "].";
    const std::string_view raw = raw_events.size() == list.size() ? raw_events[i] : std::string_view();
    if (auto bad = parse_event(list[i], raw, where, inputs[i])) return bad;
    const std::string& key = inputs[i].request.idempotency_key;
    if (key.empty()) continue;
    auto [it, fresh] = keys.try_emplace(key, i);
    if (!fresh) {
      return bad_request(where + "idempotencyKey repeats events[" + std::to_string(it->second) + "].idempotencyKey");
    }
  }
  return std::nullopt;
}

// Keys first: already published ones are answered, fresh ones claimed; a
// key in flight elsewhere or used for other content refuses the batch.
// `requests`: what is left to publish, in order.
std::optional<HttpResponse> HttpApi::claim_batch_keys(BatchState& batch,
                                                      std::vector<broker::PublishRequest>& requests) {
  auto& inputs = batch.inputs;
  batch.results.resize(inputs.size());
  batch.answered.assign(inputs.size(), false);
  auto release_claims = [&] {
    for (std::size_t i : batch.claimed) {
      idempotency_->abandon(inputs[i].request.idempotency_key, std::make_error_code(std::errc::operation_canceled));
    }
  };
  try {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::string& key = inputs[i].request.idempotency_key;
      if (key.empty()) continue;
      IdempotencyIndex::Answer answer;
      const auto claim = idempotency_->claim(key, inputs[i].request.idempotency_print, answer);
      if (claim == IdempotencyIndex::Claim::owned) {
        batch.claimed.push_back(i);
        continue;
      }
      if (claim == IdempotencyIndex::Claim::answered && answer.kind == IdempotencyIndex::Answer::Kind::duplicate) {
        batch.results[i] = result_json(answer.event.id, answer.event.topic, answer.event.offset, answer.event.epoch);
        batch.answered[i] = true;
        continue;
      }
      release_claims();
      return claim == IdempotencyIndex::Claim::in_flight ? key_in_flight(key) : key_conflict(key);
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (batch.answered[i]) continue;
      batch.published.push_back(i);
      requests.push_back(std::move(inputs[i].request));
      inputs[i].request.idempotency_key = requests.back().idempotency_key;  // kept: finish_batch settles it
    }
  } catch (...) {
    release_claims();
    throw;
  }
  return std::nullopt;
}

// Settles a batch's keys and answers it: 201 with every result in request
// order (200 if nothing needed publishing), or 503 naming what was not published.
void HttpApi::finish_batch(BatchState& batch, std::vector<PublishService::BatchResult> outcomes) {
  std::vector<std::size_t> failed;
  std::error_code error;
  std::size_t repeats = 0;              // keys a shared engine had already (published on another node)
  std::vector<std::size_t> conflicts;   // keys the engine had for other content
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    const std::size_t i = batch.published[k];
    if (const auto& e = outcomes[k].event) {
      batch.results[i] = result_json(e->id, e->topic, e->offset, e->epoch);
      if (outcomes[k].error == broker::Error::idempotent_repeat) ++repeats;
    } else if (outcomes[k].error == broker::Error::idempotency_conflict) {
      conflicts.push_back(i);
    } else {
      failed.push_back(i);
      if (!error || error == std::errc::operation_canceled) error = outcomes[k].error;
    }
  }
  // Every claimed key was published (or failed): settle each.
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    publisher_->settle(batch.inputs[batch.published[k]].request.idempotency_key, outcomes[k].event,
                       outcomes[k].error, error);
  }
  if (!conflicts.empty() && failed.empty()) {
    // Found by the engine once the batch was handed over: the other events were published.
    const std::string& key = batch.inputs[conflicts.front()].request.idempotency_key;
    return batch.respond(HttpResponse::error(
        409, "idempotency_conflict",
        "events[" + std::to_string(conflicts.front()) + "].idempotencyKey " + util::quoted(key) +
            " was already used for a different event (topic, type, key or data differ); " +
            std::to_string(conflicts.size()) + " of " + std::to_string(batch.results.size()) +
            " events were not published for that reason, the others were"));
  }
  failed.insert(failed.end(), conflicts.begin(), conflicts.end());
  std::sort(failed.begin(), failed.end());
  if (!failed.empty()) {
    std::string which;
    for (std::size_t f = 0; f < failed.size() && f < 10; ++f) which += (f ? ", events[" : "events[") + std::to_string(failed[f]) + "]";
    if (failed.size() > 10) which += " and " + std::to_string(failed.size() - 10) + " more";
    return batch.respond(failure(PublishService::store_outcome(error), "", std::to_string(failed.size()) + " of " + std::to_string(batch.results.size()) +
                   " events were not published (" + which +
                   "), the others were; retry with idempotencyKeys to publish each exactly once"));
  }
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < batch.results.size(); ++i) {
    if (i > 0) out += ',';
    out += batch.results[i];
  }
  out += "]}";
  batch.respond(repeats == outcomes.size() ? replayed(std::move(out)) : HttpResponse::json(201, std::move(out)));
}

// The topics a wildcard `pattern` matches, in history or in the store, from
// `from` on, in byte order.
std::vector<std::string> HttpApi::matching_topics(const std::string& pattern, const std::string& from) {
  std::vector<std::string> topics;
  std::set<std::string> names;
  broker::ReplayRequest probe;  // lists the matching topics, copies no events
  probe.pattern = pattern;
  probe.since_time_ms = std::numeric_limits<std::int64_t>::max();
  for (auto& [topic, last] : broker_.replay(probe).covered) names.insert(std::move(topic));
  if (store_) {
    for (auto& position : store_->load_positions()) {
      if (topic::pattern_matches(pattern, position.topic)) names.insert(std::move(position.topic));
    }
  }
  for (auto it = names.lower_bound(from); it != names.end(); ++it) topics.push_back(*it);
  return topics;
}

// Events of `topic` with offset > `after`, oldest first, at most `limit`:
// from the store for what history no longer holds, then from history.
std::vector<broker::EventPtr> HttpApi::fetch_topic(const std::string& topic, std::uint64_t after, std::size_t limit) {
  std::vector<broker::EventPtr> out;
  if (limit == 0) return out;
  const auto info = broker_.topic_info(topic);  // first offset still in history
  if (store_ && (!info || after + 1 < info->first)) {
    for (auto& stored : store_->read(topic, after, limit)) {
      if (info && stored.offset >= info->first) break;  // history has it (and maybe newer than the store)
      out.push_back(from_stored(std::move(stored)));
    }
    if (!out.empty()) after = out.back()->offset;
    if (!info || out.size() == limit) return out;
  }
  for (auto& event : broker_.history(topic, after, limit - out.size())) out.push_back(std::move(event));
  return out;
}

// GET /v1/events?topic=&key=&since=&limit=&cursor=: history, topics in byte
// order, each oldest first; {"events": [...], "nextCursor": "..." | null}.
HttpResponse HttpApi::get_events(const HttpRequest& request) {
  std::string pattern, key, since_text, cursor_text;
  const bool has_topic = request.query_param("topic", pattern);
  const bool has_key = request.query_param("key", key);
  if (!has_topic && !has_key) return bad_request("give a topic (a topic or pattern), a key, or both");
  if (has_key && key.empty()) return bad_request("key must not be empty");
  if (!has_topic) pattern = ">";
  if (auto why = topic::pattern_error(pattern); !why.empty()) {
    return HttpResponse::error(400, "invalid_topic", "invalid topic " + util::quoted(pattern) + ": " + why);
  }
  const bool wildcard = topic::is_wildcard_pattern(pattern);
  std::size_t limit = 0;
  if (auto bad = page_limit(request, limit)) return *bad;

  Cursor start{wildcard ? std::string() : pattern, 0};
  if (request.query_param("since", since_text)) {
    if (wildcard) {
      return bad_request("since is an offset within one topic: use it with an exact topic, not a pattern");
    }
    if (!detail::parse_uint(since_text, start.offset)) return bad_request("since must be an offset (an integer >= 0)");
  }
  if (request.query_param("cursor", cursor_text)) {
    Cursor c;
    if (!decode_cursor(cursor_text, c)) return bad_request("cursor is not valid");
    if (!topic::pattern_matches(pattern, c.topic)) return bad_request("cursor does not belong to this query");
    start = std::move(c);  // the cursor carries on where the last page ended (it overrides since)
  }

  std::vector<std::string> topics;
  if (!wildcard) {
    topics.push_back(pattern);
  } else {
    topics = matching_topics(pattern, start.topic);
  }

  // Collect limit + 1 matches (the extra one says whether there is a next
  // page), scanning at most max_scan events and topics.
  std::vector<broker::EventPtr> page;
  std::optional<Cursor> next;
  std::size_t scanned = 0;
  const std::size_t budget = std::max(limits_.max_scan, limit + 1);
  for (const auto& topic : topics) {
    std::uint64_t after = topic == start.topic ? start.offset : 0;
    if (after == kTopicDone) continue;
    for (;;) {
      if (scanned >= budget) {
        // Out of budget: the next page carries on from the last event examined.
        next = Cursor{topic, after};
        break;
      }
      const std::size_t want = has_key ? std::min<std::size_t>(256, budget - scanned) : limit + 1 - page.size();
      const auto chunk = fetch_topic(topic, after, want);
      ++scanned;  // a visit costs something even when it finds nothing
      for (const auto& event : chunk) {
        ++scanned;
        after = event->offset;
        if (!has_key || event->key == key) page.push_back(event);
        if (page.size() > limit) break;
      }
      if (page.size() > limit || chunk.size() < want) break;  // page full, or nothing more in this topic
    }
    if (page.size() > limit || next) break;
  }
  if (page.size() > limit) {
    page.pop_back();
    next = Cursor{page.back()->topic, page.back()->offset};
  }
  return HttpResponse::json(200, page_json(page, next));
}

// GET /v1/events/{id}: the event object, or 404.
HttpResponse HttpApi::get_event(const std::string& id) {
  if (id.empty() || id.size() > 128) return detail::not_found("no event " + util::quoted(id));
  // The broker knows recent ids in memory mode; the store knows every stored one.
  broker::EventPtr event = broker_.find_event(id);
  if (!event && store_) {
    if (auto stored = store_->find(id)) event = from_stored(std::move(*stored));
  }
  if (event) return HttpResponse::json(200, std::string(event->json));
  return detail::not_found("no event " + util::quoted(id) +
                           (store_ ? std::string()
                                   : std::string(" (without a store, only recent events still in history can be "
                                                 "found by id)")));
}

}  // namespace sluice::server
