#include "server/http/http_ui.hpp"

#include "server/http/http_api_internal.hpp"
#include "sluice/ui/assets.hpp"

namespace sluice::server::detail {

namespace {

// Everything from this origin only, nothing inline, never framed; the page
// talks to the server with fetch() (connect-src 'self').
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// True when an If-None-Match list names `etag` (or is "*").
bool matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view item = if_none_match.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);  // weak comparison (RFC 9110 §13.1.2)
    if (item == etag || item == "*") return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

HttpResponse ui_file(const HttpRequest& request, std::string_view path) {
  const ui::Asset* asset = ui::find_asset(path);
  if (!asset) return not_found("no dashboard file " + std::string(path));
  HttpResponse response;
  if (matches(request.header("If-None-Match"), asset->etag)) {
    response.status = 304;
    response.content_type = {};
  } else {
    response.content_type = asset->content_type;
    response.body.assign(asset->body);
  }
  // no-cache: reuse only after asking (a new binary may serve new files under the same names).
  response.headers = {{"Cache-Control", "no-cache"},
                      {"ETag", std::string(asset->etag)},
                      {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
                      {"X-Content-Type-Options", "nosniff"},
                      {"Referrer-Policy", "no-referrer"},
                      {"X-Frame-Options", "DENY"},
                      {"Cross-Origin-Resource-Policy", "same-origin"}};
  return response;
}

}  // namespace sluice::server::detail
