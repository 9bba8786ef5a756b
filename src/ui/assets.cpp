// Looks up the dashboard's embedded files (the table is generated).
#include "sluice/ui/assets.hpp"

namespace sluice::ui {

const Asset* find_asset(std::string_view path) noexcept {
  if (path == "/ui/" || path == "/ui/index.html") path = "/ui";  // one URL for the page
  for (const Asset& asset : assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace sluice::ui
