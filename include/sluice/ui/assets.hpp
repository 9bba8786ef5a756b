// The /ui dashboard's files, embedded into the binary at build time
// (src/ui/assets/, turned into byte arrays by cmake/embed_assets.cmake).
#pragma once

#include <span>
#include <string_view>

namespace sluice::ui {

/// One embedded file. Every view points into static storage: valid for the
/// life of the process.
struct Asset {
  std::string_view path;          ///< as served, e.g. "/ui/app.js"; "/ui" is index.html
  std::string_view content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string_view body;
  std::string_view etag;          ///< a strong validator: a quoted hash of the body
};

/// The file served at `path`, or null. Pure, thread-safe.
const Asset* find_asset(std::string_view path) noexcept;

/// Every embedded file (generated). Pure, thread-safe.
std::span<const Asset> assets() noexcept;

}  // namespace sluice::ui
