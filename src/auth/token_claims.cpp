#include "sluice/auth/token_claims.hpp"

#include "sluice/topic/topic.hpp"

namespace sluice::auth {

bool patterns_allow(const std::vector<std::string>& granted, std::string_view requested) {
  for (const auto& g : granted) {
    if (topic::pattern_covers(g, requested)) return true;
  }
  return false;
}

bool TokenClaims::may_subscribe(std::string_view pattern) const { return patterns_allow(subscribe, pattern); }
bool TokenClaims::may_publish(std::string_view topic) const { return patterns_allow(publish, topic); }

}  // namespace sluice::auth
