// A transparent string hash: unordered maps keyed by std::string looked up
// with a std::string_view, without building a std::string per lookup.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace sluice::limits {

/// Stateless; thread-safe.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace sluice::limits
