// The patterns one connection is subscribed to, in one allocation: each
// followed by a NUL, then one more NUL (valid patterns are never empty and
// hold no NUL). Why: a connection holds its list for its whole life, and a
// std::vector<std::string> cost an idle connection 24 bytes inline plus a
// 48-byte chunk for its first pattern; this costs one pointer plus the bytes
// (docs/benchmarks.md "Idle memory"). Lookups are linear: a connection has
// at most a few hundred patterns (--max-subscriptions).
//
// Not thread-safe: used by its connection's loop only.
#pragma once

#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <string_view>

namespace sluice::topic {

class PatternList {
 public:
  /// Iterates the patterns as string_views (valid until the list changes).
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;

    Iterator() = default;
    explicit Iterator(const char* at) noexcept : at_(at) {}
    std::string_view operator*() const noexcept { return at_; }
    Iterator& operator++() noexcept {
      at_ += std::strlen(at_) + 1;
      if (*at_ == '\0') at_ = nullptr;  // the final NUL: the end
      return *this;
    }
    Iterator operator++(int) noexcept {
      Iterator was = *this;
      ++*this;
      return was;
    }
    bool operator==(const Iterator&) const = default;

   private:
    const char* at_ = nullptr;
  };

  Iterator begin() const noexcept { return Iterator(bytes_.get()); }
  Iterator end() const noexcept { return Iterator(); }
  bool empty() const noexcept { return !bytes_; }

  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (auto it = begin(); it != end(); ++it) ++n;
    return n;
  }

  bool contains(std::string_view pattern) const noexcept {
    for (const std::string_view p : *this) {
      if (p == pattern) return true;
    }
    return false;
  }

  /// Appends `pattern` (non-empty, no NUL; the caller checks it is not there yet).
  void add(std::string_view pattern) {
    const std::size_t used = used_bytes();  // without the final NUL
    auto grown = std::make_unique_for_overwrite<char[]>(used + pattern.size() + 2);
    if (used) std::memcpy(grown.get(), bytes_.get(), used);
    std::memcpy(grown.get() + used, pattern.data(), pattern.size());
    grown[used + pattern.size()] = '\0';
    grown[used + pattern.size() + 1] = '\0';
    bytes_ = std::move(grown);
  }

  /// Removes `pattern`; false if it was not there. The storage goes with the last one.
  bool remove(std::string_view pattern) noexcept {
    for (auto it = begin(); it != end(); ++it) {
      if (*it != pattern) continue;
      char* at = bytes_.get() + ((*it).data() - bytes_.get());
      const std::size_t gone = pattern.size() + 1;
      const std::size_t after = used_bytes() + 1 - static_cast<std::size_t>(at - bytes_.get()) - gone;
      std::memmove(at, at + gone, after);  // the rest, final NUL included, moves up
      if (bytes_[0] == '\0') bytes_.reset();
      return true;
    }
    return false;
  }

  void clear() noexcept { bytes_.reset(); }

 private:
  // Bytes of the patterns and their NULs, without the final NUL.
  std::size_t used_bytes() const noexcept {
    if (!bytes_) return 0;
    const char* p = bytes_.get();
    while (*p != '\0') p += std::strlen(p) + 1;
    return static_cast<std::size_t>(p - bytes_.get());
  }

  std::unique_ptr<char[]> bytes_;  // null when empty
};

}  // namespace sluice::topic
