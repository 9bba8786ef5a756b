// How a client connection ends (loop thread): after the transport closed,
// reconnect (with backoff), or stop for good; a close() from the user; and the
// clean-up every ending shares.
#include <boost/system/error_code.hpp>

#include <algorithm>

#include "client/core.hpp"
#include "client/describe.hpp"
#include "sluice/client/close_policy.hpp"
#include "sluice/client/error.hpp"
#include "sluice/protocol/close_code.hpp"

namespace sluice::client::detail {

using Clock = std::chrono::steady_clock;

// --- endings (loop thread) ---

void Core::on_transport_closed(std::uint64_t generation, net::Connection& connection, const net::CloseInfo& info) {
  if (generation != generation_) return;
  if (relay_) relay_->end();
  connection_.reset();
  const bool was_ready = session_ready_;
  drain_armed_ = false;
  transport_open_ = false;
  session_ready_ = false;
  end_session();
  cancel_timers();
  refresh_id_.clear();
  refresh_token_.clear();

  if (!info.was_open && info.http_status != 0) {  // a rejected handshake: its response is complete
    std::lock_guard lock(info_mutex_);
    record_response(info_, connection.client_handshake());
  }
  std::error_code error = recycle_error_ ? recycle_error_ : info.error;
  std::string message = recycle_error_ ? recycle_message_ : describe_ending(info, urls_[url_index_], options_);
  if (!recycle_error_ && info.was_open && info.error == std::errc::timed_out && !stopping_) {
    error = make_error_code(Error::pong_timeout);
  }
  recycle_error_ = {};
  recycle_message_.clear();

  if (stopping_) {
    const bool got_code = info.code != protocol::close_code::abnormal;
    return finish_close(got_code ? info.code : close_code_, got_code ? info.reason : close_reason_);
  }

  // Decide: reconnect, more slowly, or stop for good.
  const bool server_closed = info.was_open && info.code != protocol::close_code::abnormal;
  std::error_code stop_error;
  const RetryRule rule = decide_after_ending(info, server_closed, was_ready, stop_error);

  const std::uint16_t code = info.was_open ? info.code : protocol::close_code::abnormal;
  if (error || (info.was_open && !server_closed)) {
    report_error(error ? error : std::make_error_code(std::errc::connection_reset), message);
  }
  if (stopping_ || close_requested()) return;  // a listener called close(): do_close finishes

  if (stop_error) {
    return stop_for_good(code, info.reason, why_not_reconnecting(stop_error, info, message), stop_error,
                         rule == RetryRule::stop);
  }

  auto delay = backoff_.delay(failures_);
  if (rule == RetryRule::retry_slowly) delay = std::max(delay, options_.reconnect.rate_limited_delay);
  set_state(State::reconnecting);
  {
    std::lock_guard lock(info_mutex_);
    info_.attempt = failures_;
  }
  if (was_ready) {  // on_open was reported: report its end
    CloseEvent event{code, info.reason, message, true, false, error};
    listeners.emit(listeners.close, event);
    if (stopping_ || close_requested()) return;
  }
  listeners.emit(listeners.reconnecting, failures_, delay);
  if (stopping_ || close_requested()) return;
  reconnect_after(delay);
}

RetryRule Core::decide_after_ending(const net::CloseInfo& info, bool server_closed, bool was_ready,
                                    std::error_code& stop_error) {
  RetryRule rule = RetryRule::retry;
  if (server_closed) {
    rule = rule_for_close_code(info.code, options_.reconnect);
    if (rule == RetryRule::stop) stop_error = make_error_code(Error::terminal_close_code);
  } else if (!info.was_open && info.http_status != 0) {
    rule = rule_for_http_status(info.http_status, options_.reconnect);
    if (rule == RetryRule::stop) stop_error = make_error_code(Error::terminal_http_status);
  }
  // A token refused (or expired): the provider gets one more chance, on the next attempt.
  const bool got_through = credential_got_through(info);
  const bool unauthorized = (server_closed && info.code == 4401) || (!info.was_open && info.http_status == 401);
  if (options_.auth.token_provider && unauthorized) {
    if (may_ask_again(got_through)) {
      rule = RetryRule::retry;
      stop_error = {};
    } else {
      rule = RetryRule::stop;
      stop_error = make_error_code(Error::unauthorized);
    }
  } else if (got_through) {
    auth_retry_ = false;
  }
  // Progress resets the count: a connection that stayed up stable_after, or one
  // that got through its session hook and delivered data (frequent cuts must
  // not push the delay to its maximum; the floor and jitter still apply).
  if (was_ready && (delivered_ || Clock::now() - ready_at_ >= options_.reconnect.stable_after)) failures_ = 0;
  delivered_ = false;
  if (failures_ < UINT32_MAX) ++failures_;
  const auto max_attempts = options_.reconnect.max_attempts;
  if (!stop_error && !options_.reconnect.enabled) stop_error = make_error_code(Error::reconnect_disabled);
  if (!stop_error && max_attempts != 0 && failures_ > max_attempts) stop_error = make_error_code(Error::gave_up);
  return rule;
}

std::string Core::why_not_reconnecting(std::error_code stop_error, const net::CloseInfo& info,
                                       const std::string& message) const {
  const auto max_attempts = options_.reconnect.max_attempts;
  std::string why = message;
  if (stop_error == Error::terminal_close_code) why = describe_close(info.code, info.reason) + "; not reconnecting (terminal close code)";
  if (stop_error == Error::terminal_http_status) why = message + "; not reconnecting";
  if (stop_error == Error::gave_up) why = message + "; giving up after " + std::to_string(max_attempts) + " reconnect attempts";
  if (stop_error == Error::reconnect_disabled) why = message + "; not reconnecting (reconnect disabled)";
  if (stop_error == Error::unauthorized) {
    why = message + "; the token provider's new token was refused too; not reconnecting";
  }
  return why;
}

void Core::reconnect_after(std::chrono::milliseconds delay) {
  const std::uint64_t retry = ++retry_generation_;
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([this, retry](const boost::system::error_code& ec) {
    if (ec || retry != retry_generation_ || stopping_ || connection_) return;
    start_attempt();
  });
}

void Core::do_close(std::uint16_t code, std::string reason) {
  if (stopping_) {
    if (finished_) mark_close_done();  // stopped for good before: nothing left to close
    return;
  }
  stopping_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  cancel_timers();
  ++retry_generation_;
  if (connection_) {
    set_state(State::closing);
    if (transport_open_) {
      pump();
      connection_->close(code, close_reason_);
    } else {
      connection_->abort();  // still connecting: nothing to hand-shake
    }
    return;  // on_transport_closed finishes
  }
  finish_close(code, close_reason_);
}

void Core::finish_close(std::uint16_t code, std::string reason) {
  if (finished_) return;
  finished_ = true;
  stopping_ = true;
  cancel_timers();
  end_session();
  drop_outbox();
  set_state(State::closed);
  std::string description = "closed by the client with " + std::to_string(code);
  CloseEvent event{code, std::move(reason), std::move(description), false, false, make_error_code(Error::closed_by_user)};
  listeners.emit(listeners.close, event);
  mark_close_done();
}

void Core::stop_for_good(std::uint16_t code, std::string reason, std::string description, std::error_code error,
                         bool terminal) {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;  // sends fail with `closed` from now on
  }
  stopping_ = true;
  finished_ = true;
  cancel_timers();
  end_session();
  drop_outbox();
  set_state(State::closed);
  {
    std::lock_guard lock(info_mutex_);
    info_.last_error = error;
    info_.last_error_message = description;
    info_.attempt = failures_;
  }
  CloseEvent event{code, std::move(reason), std::move(description), false, terminal, error};
  listeners.emit(listeners.close, event);
  mark_close_done();
}

void Core::end_session() {
  if (!token_) return;
  const auto token = std::move(token_);  // keeps the mutex alive until the guard below is gone
  std::lock_guard lock(token->mutex);
  token->core = nullptr;
  token->decided = true;
}

void Core::drop_outbox() {
  std::size_t bytes = 0;
  for (const auto& m : outbox_) bytes += m.data.size();
  outbox_.clear();
  if (bytes == 0) return;
  {
    std::lock_guard lock(mutex_);
    dropped_bytes_ += bytes;  // before release() wakes flush()
  }
  release(bytes);
}

void Core::cancel_timers() {
  retry_timer_.cancel();
  hook_timer_.cancel();
  ping_watch_.cancel();
  drain_timer_.cancel();
  refresh_timer_.cancel();
}

void Core::report_error(std::error_code error, std::string message) {
  {
    std::lock_guard lock(info_mutex_);
    info_.last_error = error;
    info_.last_error_message = message;
  }
  ErrorEvent event{error, std::move(message)};
  listeners.emit(listeners.error, event);
}

}  // namespace sluice::client::detail
