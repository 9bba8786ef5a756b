#include "server/http/http_front_door.hpp"

#include <boost/beast/http/status.hpp>

#include <charconv>
#include <cstdio>

#include "server/http/reply_inbox.hpp"
#include "server/server_metrics.hpp"
#include "sluice/log/log.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::server::detail {

namespace {

// The standard reason phrase of every registered status code (RFC 9110 §15).
std::string_view reason_phrase(unsigned status) {
  const auto text = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  return {text.data(), text.size()};
}

// Copies a parsed request into `r`, whose strings keep their capacity from
// one request to the next (assign, not construct: no allocation once warm).
void fill_request(HttpRequest& r, const net::ParsedRequest& in, std::string_view remote_ip) {
  r.method.assign(in.method_string());
  r.target.assign(in.target());
  const auto q = r.target.find('?');
  r.path.assign(r.target, 0, q);
  if (q != std::string::npos) {
    r.query.assign(r.target, q + 1);
  } else {
    r.query.clear();
  }
  const auto fields = in.fields();
  if (r.headers.size() > fields.size()) r.headers.resize(fields.size());
  while (r.headers.size() < fields.size()) r.headers.emplace_back();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    r.headers[i].first.assign(fields[i].name);
    r.headers[i].second.assign(fields[i].value);
  }
  r.body.assign(in.body());
  r.remote_ip.assign(remote_ip);
}

// The access log's view of a request (copied: the request buffers are reused).
struct AccessLine {
  std::string method, path, remote;
  std::chrono::steady_clock::time_point start;
};

// One line per answered HTTP request (--access-log): never the query string
// (it may carry ?token=) nor a header.
void log_access(const AccessLine& line, unsigned status, std::size_t bytes) {
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - line.start).count();
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", ms);
  const std::string status_text = std::to_string(status), bytes_text = std::to_string(bytes);
  const log::Field fields[] = {{"method", line.method},
                               {"path", line.path},
                               {"status", status_text, true},
                               {"duration_ms", duration, true},
                               {"bytes", bytes_text, true}};
  log::Context context;
  context.remote = line.remote;
  context.extra = fields;
  log::write(spdlog::level::info, context, "http " + line.method + " " + line.path + " " + status_text);
}

// The status line, headers and body in one buffer, sized first.
std::string serialize_response(const HttpResponse& r, bool close) {
  const std::string_view reason = reason_phrase(r.status);
  const bool has_body = r.status != 204 && r.status != 304;  // neither has a body (RFC 9110 §15.3.5, §15.4.5)
  std::size_t size = 64 + reason.size() + r.content_type.size() + (has_body ? r.body.size() : 0);
  for (const auto& [name, value] : r.headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  char digits[24];
  auto append_number = [&](std::uint64_t n) { out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr); };
  out += "HTTP/1.1 ";
  append_number(r.status);
  out += ' ';
  out += reason;
  out += "\r\n";
  if (has_body) {
    out += "Content-Type: ";
    out += r.content_type;
    out += "\r\nContent-Length: ";
    append_number(r.body.size());
    out += "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (has_body) out += r.body;
  return out;
}

}  // namespace

// One per event loop; only that loop touches it.
struct HttpFrontDoor::LoopState {
  ReplyInbox replies;   // answers completed on other threads (the store's writer)
  HttpRequest request;  // the request being handled, its buffers reused from one to the next
  bool request_busy = false;
};

HttpFrontDoor::HttpFrontDoor(net::LoopGroup& loops, HttpHandler handler, ServerMetrics& metrics, Options options)
    : loops_(loops), handler_(std::move(handler)), metrics_(metrics), options_(options) {
  for (std::size_t i = 0; i < loops_.size(); ++i) states_.push_back(std::make_unique<LoopState>());
}

HttpFrontDoor::~HttpFrontDoor() = default;

decltype(net::ServerConnectionConfig::http_handler) HttpFrontDoor::handler() {
  return [this](net::Connection& connection, net::ParsedRequest& request, std::function<void(std::string, bool)> reply) {
    handle(connection, request, std::move(reply));
  };
}

// The loop running this call (its index, or the one whose thread this is).
std::size_t HttpFrontDoor::current_loop() const {
  if (const auto current = loops_.current_index()) return *current;
  std::size_t loop = 0;
  while (loop + 1 < loops_.size() && !loops_.at(loop).in_loop_thread()) ++loop;
  return loop;
}

void HttpFrontDoor::handle(net::Connection& connection, net::ParsedRequest& request,
                           std::function<void(std::string, bool)> reply) {
  const std::size_t loop = current_loop();
  // The loop's request buffers, reused; a nested call (none today) would get its own.
  LoopState& here = *states_[loop];
  HttpRequest nested;
  HttpRequest& r = here.request_busy ? nested : here.request;
  fill_request(r, request, options_.needs_ip ? connection.remote_ip() : std::string());
  struct Release {
    bool* busy;
    ~Release() {
      if (busy) *busy = false;
    }
  } release{here.request_busy ? nullptr : &here.request_busy};
  here.request_busy = true;
  std::shared_ptr<AccessLine> access;  // null when the access log is off
  if (options_.access_log) {
    access = std::make_shared<AccessLine>(AccessLine{r.method, r.path, r.remote_ip, std::chrono::steady_clock::now()});
  }
  handler_(r, [this, loop, route = ServerMetrics::route_of(r.path), last = connection.over_capacity(),
               reply = std::move(reply), access = std::move(access)](HttpResponse response) mutable {
    metrics_.http_request(route, response.status);
    const bool close = last || response.status >= 500;
    std::string bytes = serialize_response(response, close);
    if (access) log_access(*access, response.status, bytes.size());
    net::EventLoop& owner = loops_.at(loop);
    if (owner.in_loop_thread()) return reply(std::move(bytes), close);
    LoopState* state = states_[loop].get();
    if (state->replies.push(std::move(reply), std::move(bytes), close)) {
      owner.post([state] { state->replies.drain(); });
    }
  });
}

}  // namespace sluice::server::detail
