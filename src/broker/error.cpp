#include "sluice/broker/error.hpp"

#include <string>

namespace sluice::broker {

namespace {
class BrokerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice.broker"; }
  std::string message(int value) const override {
    switch (static_cast<Error>(value)) {
      case Error::too_many_topics: return "the server has as many topics as it allows (max-topics)";
      case Error::engine_unavailable: return "the engine (Redis) cannot be reached";
      case Error::idempotent_repeat: return "the idempotency key was already published";
      case Error::idempotency_conflict: return "the idempotency key was already used for other content";
    }
    return "unknown broker error";
  }
};
}  // namespace

const std::error_category& broker_category() noexcept {
  static const BrokerCategory category;
  return category;
}

}  // namespace sluice::broker
