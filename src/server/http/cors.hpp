// CORS for the HTTP API (Fetch standard, "CORS protocol"): browsers on the
// listed origins may call it; nothing is open by default.
#pragma once

#include <string>
#include <vector>

#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

/// Wraps `inner`: a preflight (OPTIONS with Origin and
/// Access-Control-Request-Method) from a listed origin is answered 204 with
/// the allowed methods and headers, from any other origin 403; every other
/// response to a listed Origin carries Access-Control-Allow-Origin (and
/// Vary: Origin). `origins` as origin_listed() reads them. The result is
/// called as `inner` is (any loop, thread-safe if `inner` is).
HttpHandler with_cors(HttpHandler inner, std::vector<std::string> origins);

}  // namespace sluice::server::detail
