#include "sluice/centrifugo/history.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sluice/util/json_text.hpp"
#include "sluice/centrifugo/codec.hpp"

namespace sluice::centrifugo {

int history_result(const broker::Broker& broker, const std::string& topic, const HistoryQuery& query, std::size_t cap,
                   std::string& out) {
  broker::ReplayRequest request;
  request.pattern = topic;
  const auto position = broker.replay(request);  // covered: the top offset
  const std::uint64_t top = position.covered.empty() ? 0 : position.covered.front().second;
  const auto info = broker.topic_info(topic);
  const std::string epoch = info ? info->second : std::string();
  if (query.has_since && !query.since_epoch.empty() && query.since_epoch != epoch) {
    return error_code::unrecoverable_position;
  }
  const std::size_t limit = query.limit < 0 ? cap : std::min<std::size_t>(cap, static_cast<std::size_t>(query.limit));
  std::vector<broker::EventPtr> events;
  if (limit > 0) {
    if (!query.reverse) {
      events = broker.history(topic, query.has_since ? query.since_offset : 0, limit);
    } else {
      auto all = broker.history(topic, 0, SIZE_MAX);
      for (auto it = all.rbegin(); it != all.rend() && events.size() < limit; ++it) {
        if (!query.has_since || (*it)->offset < query.since_offset) events.push_back(*it);
      }
    }
  }
  out += "{\"publications\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) out += ',';
    append_publication(out, *events[i]);
  }
  out += "],\"epoch\":" + util::quoted(epoch) + ",\"offset\":" + std::to_string(top) + "}";
  return 0;
}

}  // namespace sluice::centrifugo
