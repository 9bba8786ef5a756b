#include "sluice/client/topic_types.hpp"

namespace sluice::client {

bool record_delivery(Positions& positions, const std::string& topic, std::uint64_t offset, const std::string& epoch) {
  auto [it, fresh] = positions.try_emplace(topic, Position{offset, epoch});
  if (fresh) return true;
  if (it->second.epoch == epoch && offset <= it->second.offset) return false;
  it->second = Position{offset, epoch};
  return true;
}

}  // namespace sluice::client
