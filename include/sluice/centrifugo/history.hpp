// Centrifugo's history query, shared by the client protocol's `history`
// command (session.cpp) and the server API's POST /api/history
// (server/http/http_centrifugo.cpp), so both answer one query the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sluice/broker/broker.hpp"

namespace sluice::centrifugo {

/// One history query on a topic (already mapped from its channel).
struct HistoryQuery {
  /// 0: only the stream's position; negative: all that history holds (up to
  /// the cap); else at most this many.
  std::int64_t limit = 0;
  bool has_since = false;       ///< publications after since_offset (reverse: before it)
  std::uint64_t since_offset = 0;
  std::string since_epoch;      ///< "" matches any epoch
  bool reverse = false;         ///< newest first
};

/// Answers `query` on `topic` from the broker's history: appends the result
/// object {"publications":[...],"epoch":"...","offset":N} to `out` and
/// returns 0, or returns error_code::unrecoverable_position (112) when
/// since_epoch is not the topic's epoch (nothing appended). At most `cap`
/// publications. Thread-safe (the broker's reads are).
int history_result(const broker::Broker& broker, const std::string& topic, const HistoryQuery& query, std::size_t cap,
                   std::string& out);

}  // namespace sluice::centrifugo
