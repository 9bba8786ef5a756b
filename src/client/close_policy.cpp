#include "sluice/client/close_policy.hpp"

#include <algorithm>

namespace sluice::client {

namespace {
template <class T, class V>
bool contains(const std::vector<T>& list, V value) {
  return std::find(list.begin(), list.end(), static_cast<T>(value)) != list.end();
}
}  // namespace

RetryRule rule_for_close_code(std::uint16_t code, const ReconnectOptions& options) noexcept {
  if (contains(options.terminal_close_codes, code)) return RetryRule::stop;
  if (contains(options.rate_limited_close_codes, code)) return RetryRule::retry_slowly;
  return RetryRule::retry;
}

RetryRule rule_for_http_status(unsigned status, const ReconnectOptions& options) noexcept {
  if (contains(options.terminal_http_statuses, status)) return RetryRule::stop;
  if (contains(options.rate_limited_http_statuses, status)) return RetryRule::retry_slowly;
  return RetryRule::retry;
}

}  // namespace sluice::client
