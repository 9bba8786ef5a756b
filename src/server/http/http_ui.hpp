// GET /ui: the dashboard's embedded files, with the headers a browser needs
// to run them safely. Not part of the public interface.
#pragma once

#include <string_view>

#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

/// The answer to GET `path` (/ui or /ui/NAME, trailing slash removed):
/// the file with its content type, Cache-Control: no-cache and an ETag (304
/// when If-None-Match has it), a strict Content-Security-Policy (same-origin
/// scripts, styles and requests only; no inline code, no frames); 404 for an
/// unknown name. Public: the files hold no data. Pure, thread-safe.
HttpResponse ui_file(const HttpRequest& request, std::string_view path);

}  // namespace sluice::server::detail
