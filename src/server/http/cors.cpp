#include "server/http/cors.hpp"

#include <memory>

#include "server/origin_policy.hpp"

namespace sluice::server::detail {

namespace {

void allow_origin(HttpResponse& response, std::string_view origin) {
  response.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  response.headers.emplace_back("Vary", "Origin");
}

}  // namespace

HttpHandler with_cors(HttpHandler inner, std::vector<std::string> origins) {
  auto allowed = std::make_shared<const std::vector<std::string>>(std::move(origins));
  return [inner = std::move(inner), allowed](const HttpRequest& request, HttpRespond respond) {
    const std::string_view origin = request.header("Origin");
    const bool listed = !origin.empty() && origin_listed(origin, *allowed);
    if (request.method == "OPTIONS" && !origin.empty() && !request.header("Access-Control-Request-Method").empty()) {
      if (!listed) {
        return respond(HttpResponse::error(403, "origin_not_allowed",
                                           "origin " + std::string(origin.substr(0, 200)) + " is not allowed (--cors-origin)"));
      }
      HttpResponse preflight;
      preflight.status = 204;
      allow_origin(preflight, origin);
      preflight.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE");
      preflight.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type");
      preflight.headers.emplace_back("Access-Control-Max-Age", "600");
      return respond(std::move(preflight));
    }
    if (!listed) return inner(request, std::move(respond));
    inner(request, [respond = std::move(respond), origin = std::string(origin)](HttpResponse response) {
      allow_origin(response, origin);
      response.headers.emplace_back("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, Location");
      respond(std::move(response));
    });
  };
}

}  // namespace sluice::server::detail
