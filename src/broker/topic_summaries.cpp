// Broker::topic_summaries: one page of topics with their positions and
// history sizes, for operators (GET /v1/topics and the /ui dashboard).
#include <algorithm>

#include "sluice/broker/broker.hpp"

namespace sluice::broker {

std::vector<TopicSummary> Broker::topic_summaries(std::string_view after, std::size_t limit) const {
  std::vector<TopicSummary> page;
  if (limit == 0) return page;
  // A max-heap by name of the `limit` smallest names past `after`: a name
  // is copied only while it may still be on the page.
  const auto by_name = [](const TopicSummary& a, const TopicSummary& b) { return a.topic < b.topic; };
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [topic, state] : shard.topics) {
      if (topic <= after) continue;
      if (page.size() == limit && topic >= page.front().topic) continue;
      TopicSummary summary;
      summary.topic = topic;
      summary.epoch = state.epoch;
      summary.last_offset = state.committed;
      summary.history_events = state.history.size();
      summary.history_bytes = state.history_bytes;
      summary.last_event_ms = state.history.empty() ? 0 : state.history.back()->time_ms;
      if (page.size() == limit) {
        std::pop_heap(page.begin(), page.end(), by_name);
        page.back() = std::move(summary);
      } else {
        page.push_back(std::move(summary));
      }
      std::push_heap(page.begin(), page.end(), by_name);
    }
  }
  std::sort_heap(page.begin(), page.end(), by_name);
  return page;
}

}  // namespace sluice::broker
