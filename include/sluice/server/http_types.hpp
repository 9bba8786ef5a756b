// Plain HTTP requests and responses as the API layer sees them: parsed and
// complete (body included), independent of the socket they came on.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::server {

struct HttpRequest {
  std::string method;   ///< "GET", "POST", ...
  std::string target;   ///< path and query as received
  std::string path;     ///< target up to '?', percent-decoding not applied
  std::string query;    ///< after '?', or empty
  std::vector<std::pair<std::string, std::string>> headers;  ///< names as received
  std::string body;
  std::string remote_ip;

  /// The first header with this name (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
  /// A query parameter, percent-decoded; nullopt-like empty + found=false when absent.
  bool query_param(std::string_view name, std::string& value) const;
  /// The name of each query parameter, percent-decoded, in order (repeats included).
  std::vector<std::string> query_names() const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string body;
  /// Static text (a literal): every response has one of a few types, and
  /// "application/json" would not fit a std::string without an allocation.
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers

  /// {"error": code, "message": message} with `status` (SPEC §3 error shape).
  static HttpResponse error(unsigned status, std::string_view code, std::string_view message);
  static HttpResponse json(unsigned status, std::string body);
};

/// Answers one request. Must be called exactly once, from any thread; the
/// connection serializes responses in request order (pipelining).
using HttpRespond = std::function<void(HttpResponse)>;

/// The API: gets each complete request on the connection's loop thread; may
/// respond at once or later (e.g. after a durable write), from any thread.
/// The request is only borrowed for the call: copy what a later answer needs.
using HttpHandler = std::function<void(const HttpRequest&, HttpRespond)>;

}  // namespace sluice::server
