// The client's credentials (ClientAuth, auth.hpp): the bearer of each
// attempt, the token provider's answers, the in-band refresh before `exp`,
// and the one more chance a provider gets after a 4401. Loop thread only.
// No token ever goes into a message, a log or an error.
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <exception>

#include "client/core.hpp"
#include "sluice/client/error.hpp"
#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::client::detail {

namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::chrono::system_clock::time_point> as_time(std::optional<std::int64_t> exp) {
  if (!exp) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::seconds(*exp));
}

}  // namespace

// Runs the provider as a user callback (no lock held, not after close()).
Core::Asked Core::ask_provider(std::string& token, std::string& why) {
  std::optional<std::string> answer;
  std::string failure;
  const bool ran = listeners.run([&] {
    try {
      answer = options_.auth.token_provider();
    } catch (const std::exception& e) {
      failure = std::string("the token provider threw: ") + e.what();
    } catch (...) {
      failure = "the token provider threw";
    }
  });
  if (!ran || stopping_ || close_requested()) return Asked::closing;
  if (!failure.empty()) {
    why = std::move(failure);
    return Asked::none;
  }
  if (!answer || answer->empty()) {
    why = "the token provider returned no token";
    return Asked::none;
  }
  if (protocol::breaks_header_line(*answer) || protocol::has_space_or_control(*answer)) {
    why = "the token provider returned a token with a space or control character";
    return Asked::none;
  }
  token = std::move(*answer);
  return Asked::token;
}

void Core::set_credential(std::string token, std::optional<std::int64_t> exp) {
  credential_ = std::move(token);
  credential_exp_ = exp;
  std::lock_guard lock(info_mutex_);
  info_.token_expires_at = as_time(exp);
}

// Before an attempt: the bearer it sends. False when the client stopped
// for good (no token) or is closing; the attempt is then not made.
bool Core::prepare_credential() {
  if (!options_.auth.token_provider) {
    if (credential_.empty()) set_credential(options_.auth.bearer, token_expiry(options_.auth.bearer));
    return true;
  }
  std::string token;
  std::string why;
  switch (ask_provider(token, why)) {
    case Asked::token: {
      auto exp = token_expiry(token);
      set_credential(std::move(token), exp);
      return true;
    }
    case Asked::closing:
      return false;  // do_close, posted by close(), finishes
    case Asked::none:
      break;
  }
  const bool again = connections_ > 0 || failures_ > 0;
  stop_for_good(protocol::close_code::abnormal, {}, why + (again ? "; not reconnecting" : "; not connecting"),
                make_error_code(Error::no_token), true);
  return false;
}

// On open, and after each acknowledged refresh: a timer `refresh_margin`
// before the token's exp. Only for a provider's JWT with in-band renewal.
void Core::arm_refresh() {
  if (renewal_ != TokenRenewal::in_band || !options_.auth.token_provider || !credential_exp_) return;
  const auto delay = refresh_delay(*credential_exp_, std::chrono::system_clock::now(), options_.auth.refresh_margin,
                                   options_.auth.min_refresh_delay);
  refresh_timer_.expires_after(delay);
  refresh_timer_.async_wait([this, generation = generation_](const boost::system::error_code& ec) {
    if (!ec) refresh_now(generation);
  });
}

void Core::refresh_now(std::uint64_t generation) {
  if (generation != generation_ || stopping_ || !transport_open_ || !connection_ || !refresh_id_.empty()) return;
  std::string token;
  std::string why;
  switch (ask_provider(token, why)) {
    case Asked::closing:
      return;
    case Asked::none:
      report_error(make_error_code(Error::token_refresh_failed),
                   "token not refreshed: " + why + "; the server ends the connection when the current token expires");
      return;
    case Asked::token:
      break;
  }
  if (generation != generation_ || !transport_open_ || !connection_) return;  // ended while the provider ran
  if (token == credential_) return arm_refresh();  // nothing new yet: look again later
  refresh_id_ = "sluice-refresh-" + std::to_string(++refresh_count_);
  boost::json::object request;
  request["op"] = "refresh";
  request["id"] = refresh_id_;
  request["token"] = token;
  refresh_token_ = std::move(token);
  (void)connection_->send(MessageType::text, bytes_of(boost::json::serialize(request)));
}

// A message while a refresh is pending: true (consumed) if it is the answer.
bool Core::take_refresh_reply(std::string_view text) {
  if (text.find("\"" + refresh_id_ + "\"") == std::string_view::npos) return false;  // cheap test first
  boost::system::error_code ec;
  const boost::json::value reply = boost::json::parse(text, ec);
  if (ec || !reply.is_object()) return false;
  const auto& object = reply.get_object();
  const auto* id = object.if_contains("id");
  if (!id || !id->is_string() || std::string_view(id->get_string()) != refresh_id_) return false;
  refresh_id_.clear();
  std::string token = std::move(refresh_token_);
  refresh_token_.clear();
  const auto* type = object.if_contains("type");
  if (type && type->is_string() && std::string_view(type->get_string()) == "ack") {
    auto exp = token_expiry(token);
    if (const auto* at = object.if_contains("expiresAt"); at && at->is_int64() && at->get_int64() > 0) {
      exp = at->get_int64();  // the server's word on what it accepted
    }
    set_credential(std::move(token), exp);
    {
      std::lock_guard lock(info_mutex_);
      ++info_.token_refreshes;
    }
    arm_refresh();
    return true;
  }
  auto field = [&](const char* name) {
    const auto* v = object.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  report_error(make_error_code(Error::token_refresh_failed),
               "the server refused the refreshed token (" + field("code") + ": " + field("message") +
                   "); it ends the connection when the current token expires");
  return true;
}

bool Core::credential_got_through(const net::CloseInfo& info) const {
  if (!info.was_open) return false;
  if (got_message_ || Clock::now() - opened_at_ >= options_.reconnect.stable_after) return true;
  if (!credential_exp_) return false;
  // A silent connection closed at its token's expiry (a second of leeway for the server's clock).
  const auto exp = std::chrono::system_clock::time_point(std::chrono::seconds(*credential_exp_));
  return opened_wall_ < exp && std::chrono::system_clock::now() >= exp - std::chrono::seconds(1);
}

bool Core::may_ask_again(bool got_through) {
  if (got_through) auth_retry_ = false;  // that token worked for a while: this is its expiry
  if (auth_retry_) return false;
  auth_retry_ = true;
  return true;
}

}  // namespace sluice::client::detail
