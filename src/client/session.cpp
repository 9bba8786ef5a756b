#include "sluice/client/session.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "client/core.hpp"

namespace sluice::client {

SendStatus Session::send(MessageType type, std::string payload) {
  std::lock_guard lock(token_->mutex);
  if (!token_->core) return SendStatus::closed;
  // Under the token's mutex the core cannot go away; session_send only
  // writes to the connection or posts, it runs no callback.
  return token_->core->session_send(token_, type, std::move(payload));
}

SendStatus Session::send_text(std::string_view text) { return send(MessageType::text, std::string(text)); }

SendStatus Session::send_binary(std::span<const std::uint8_t> data) {
  return send(MessageType::binary, std::string(reinterpret_cast<const char*>(data.data()), data.size()));
}

SendStatus Session::send_json(const boost::json::value& value) {
  return send(MessageType::text, boost::json::serialize(value));
}

void Session::complete() {
  std::lock_guard lock(token_->mutex);
  if (token_->core && !token_->decided) token_->core->session_decided(token_, true, {});
}

void Session::fail(std::string reason) {
  std::lock_guard lock(token_->mutex);
  if (token_->core && !token_->decided) token_->core->session_decided(token_, false, std::move(reason));
}

std::uint64_t Session::connection() const noexcept { return token_->connection; }
std::uint32_t Session::hook_attempt() const noexcept { return token_->hook_attempt; }

}  // namespace sluice::client
