// GET /v1/topics: the topics the broker keeps, a page at a time, with their
// positions and history sizes (operators, the /ui dashboard).
#include "server/http/http_api_internal.hpp"
#include "server/http/http_api.hpp"

namespace sluice::server {

// {"topics":[{topic, epoch, lastOffset, historyEvents, historyBytes,
// lastEventAt}], "total": N, "nextCursor": name|null}; in name order, the
// cursor being the last name of the page (topics are never removed).
HttpResponse HttpApi::list_topics(const HttpRequest& request) const {
  std::size_t limit = 0;
  if (auto bad = page_limit(request, limit)) return *bad;
  std::string cursor;
  if (request.query_param("cursor", cursor) && cursor.empty()) return detail::bad_request("cursor must not be empty");
  const auto page = broker_.topic_summaries(cursor, limit);
  std::string out = "{\"topics\":[";
  for (std::size_t i = 0; i < page.size(); ++i) {
    const auto& t = page[i];
    if (i > 0) out += ',';
    out += "{\"topic\":" + util::quoted(t.topic) + ",\"epoch\":" + util::quoted(t.epoch) +
           ",\"lastOffset\":" + std::to_string(t.last_offset) +
           ",\"historyEvents\":" + std::to_string(t.history_events) +
           ",\"historyBytes\":" + std::to_string(t.history_bytes) + ",\"lastEventAt\":" +
           (t.last_event_ms > 0 ? util::quoted(broker::format_time(t.last_event_ms)) : std::string("null")) + '}';
  }
  out += "],\"total\":" + std::to_string(broker_.topic_count()) + ",\"nextCursor\":";
  out += page.size() == limit ? util::quoted(page.back().topic) : "null";
  out += '}';
  return HttpResponse::json(200, std::move(out));
}

}  // namespace sluice::server
