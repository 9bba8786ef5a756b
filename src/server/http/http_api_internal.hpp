// Helpers shared by the HTTP API's source files (http_api.cpp,
// http_events.cpp, http_subscriptions.cpp). Not part of the public interface.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "sluice/util/json_text.hpp"
#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

/// Parses the request body as JSON into `out`, its memory from `storage`
/// (default: the heap); a 400 invalid_json otherwise.
std::optional<HttpResponse> parse_json_body(const HttpRequest& request, boost::json::value& out,
                                            boost::json::storage_ptr storage = {});

/// A 400 bad_request naming the first query parameter that is not one of
/// `known` (a typo such as ?limt=5 must not pass unnoticed), or nullopt.
std::optional<HttpResponse> unknown_query_param(const HttpRequest& request,
                                                std::initializer_list<std::string_view> known);

/// A 400 bad_request.
HttpResponse bad_request(std::string_view message);
/// A 404 not_found.
HttpResponse not_found(std::string_view message);

/// `response` with one more header.
HttpResponse with_header(HttpResponse response, std::string name, std::string value);

/// Decimal digits only, no sign, no overflow.
bool parse_uint(std::string_view text, std::uint64_t& out);

/// Base64url without padding (RFC 4648 §5): cursors are opaque and URL-safe.
std::string base64url_encode(std::string_view bytes);
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace sluice::server::detail
