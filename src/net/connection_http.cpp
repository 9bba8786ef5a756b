// Connection, server side before the WebSocket opens: HTTP requests read off
// the socket, handed to the HTTP handler or checked as an upgrade, and answered.
#include "sluice/net/connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/http/status.hpp>

#include <utility>

#include "sluice/protocol/error.hpp"

namespace sluice::net {

namespace {
// A refusal before any handler ran, with the standard reason phrase (RFC 9110 §15).
std::string plain_response(unsigned status, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  const auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string extra;
  for (const auto& [name, value] : headers) extra += name + ": " + value + "\r\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size() + 1) +
         "\r\n" + extra + "Connection: close\r\n\r\n" + std::string(body) + "\n";
}
}  // namespace

// The answer to a plain HTTP request given before the handler returned.
// `current` is per thread: set on a loop thread around the handler call only.
struct InlineAnswer {
  const Connection* connection = nullptr;
  bool given = false;
  bool close = false;
  std::string response;
  static thread_local InlineAnswer* current;
};
thread_local InlineAnswer* InlineAnswer::current = nullptr;

void Connection::reject_request(const std::string& response, std::error_code error) {
  if (error) uncommon().close_error = error;
  state_ = State::closing;
  drop_http_reader();
  write_raw(response, /*finish_after=*/true);
}

void Connection::process_requests() {
  while (!finished_ && !codec_ && http_reader() && !http_busy_ && state_ == State::handshaking) {
    HttpRequestReader& reader = *http_reader();
    const auto status = reader.next();
    if (status == HttpRequestReader::Status::need_more) return;
    if (status == HttpRequestReader::Status::error) {
      return reject_request(plain_response(reader.error_status(), reader.error_message()),
                            protocol::Error::bad_http_request);
    }
    auto& request = reader.request();
    // Only a request with an Upgrade field can be a WebSocket upgrade: the
    // Beast header the handshake checks is built for those alone.
    std::optional<boost::beast::http::request_header<>> head;
    if (!server_config_->http_handler || !request.field("Upgrade").empty()) head.emplace(request.beast_header());
    if (server_config_->http_handler && !(head && protocol::is_websocket_upgrade(*head))) {
      // Plain HTTP: one request at a time, answered (maybe later) through the responder.
      http_busy_ = true;
      Deadlines::cancel(*this);  // the answer re-arms it (a slow handler is not a slow client)
      // Over the connection limit, plain HTTP (probes above all) is still answered,
      // one request per connection, so such a connection cannot hold its place.
      const bool keep_alive = request.keep_alive() && !over_capacity_;
      auto responder = [self = shared_from_this(), keep_alive](std::string response, bool close) {
        close = close || !keep_alive;
        // Answered before the handler returned (on this loop, so the slot is
        // this thread's): the loop below takes it at once, no post.
        if (InlineAnswer* answer = InlineAnswer::current; answer && answer->connection == self.get() && !answer->given) {
          answer->given = true;
          answer->response = std::move(response);
          answer->close = close;
          return;
        }
        asio::post(self->stream_.get_executor(), [self, response = std::move(response), close]() mutable {
          if (self->take_http_response(std::move(response), close)) self->process_requests();
        });
      };
      InlineAnswer answer;
      answer.connection = this;
      InlineAnswer* outer = std::exchange(InlineAnswer::current, &answer);
      server_config_->http_handler(*this, request, std::move(responder));
      InlineAnswer::current = outer;
      if (!answer.given || !take_http_response(std::move(answer.response), answer.close)) return;
      continue;  // the next pipelined request, if one is buffered: answers are corked into one write
    }
    if (over_capacity_) {
      return reject_request(plain_response(503, "too many connections"),
                            std::make_error_code(std::errc::too_many_files_open));
    }
    std::optional<RouteRefusal> refusal;
    if (server_config_->websocket_route) refusal = server_config_->websocket_route(request);
    if (!refusal && handler_) refusal = handler_->on_upgrade_request(*this, request);
    if (refusal) {
      return reject_request(plain_response(refusal->status, refusal->message, refusal->headers),
                            refusal->status == 404 ? std::make_error_code(std::errc::no_such_file_or_directory)
                                                   : make_error_code(protocol::Error::bad_http_request));
    }
    auto decision = protocol::accept_upgrade(*head, server_config_->handshake);
    if (decision.error) {
      if (const auto* m = metrics()) m->invalid_upgrades->add();
      return reject_request(decision.response, decision.error);
    }
    uncommon_->subprotocol = decision.subprotocol;
    write_raw(decision.response, /*finish_after=*/false);
    const std::string leftover(reader.leftover());
    const std::string target(request.target());  // the request lives in the reader's buffers
    drop_http_reader();
    return open_with(protocol::Role::server, server_config_->codec, target, decision.deflate, leftover);
  }
}

bool Connection::take_http_response(std::string response, bool close) {
  if (finished_) return false;
  http_busy_ = false;
  if (close) {
    state_ = State::closing;
    drop_http_reader();
    write_raw(std::move(response), /*finish_after=*/true);
    return false;
  }
  queue_.push_unbounded(OutChunk::owned(std::move(response)));
  schedule_write();
  arm_timer(timeouts().handshake, DeadlineAction::finish_timed_out);  // bounds the wait for the next request on keep-alive
  return true;  // pipelined requests may be buffered: the caller goes on with them
}

}  // namespace sluice::net
