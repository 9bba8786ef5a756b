// A map for a handful of entries held for a long time: a vector of pairs
// searched linearly. Why: a connection's subscriptions (at most a few hundred,
// usually one or two) in a std::unordered_map cost a 104-byte bucket array on
// the first insert plus a node each; here they cost one vector
// (docs/benchmarks.md "Idle memory"). The order of entries carries no meaning:
// erase moves the last entry into the hole. Iterators and references are
// invalidated by emplace and erase, as a vector's.
//
// Not thread-safe: used by its owner only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace sluice::util {

template <class Key, class Value>
class LinearMap {
 public:
  using value_type = std::pair<Key, Value>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  iterator begin() noexcept { return entries_.begin(); }
  iterator end() noexcept { return entries_.end(); }
  const_iterator begin() const noexcept { return entries_.begin(); }
  const_iterator end() const noexcept { return entries_.end(); }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

  template <class K>
  iterator find(const K& key) {
    return std::find_if(entries_.begin(), entries_.end(), [&](const value_type& e) { return e.first == key; });
  }
  template <class K>
  const_iterator find(const K& key) const {
    return std::find_if(entries_.begin(), entries_.end(), [&](const value_type& e) { return e.first == key; });
  }
  template <class K>
  bool contains(const K& key) const {
    return find(key) != end();
  }

  /// Adds `key` (the caller checked it is not there yet).
  template <class K, class V>
  void emplace(K&& key, V&& value) {
    entries_.emplace_back(std::forward<K>(key), std::forward<V>(value));
  }

  void erase(iterator it) {
    if (it + 1 != entries_.end()) *it = std::move(entries_.back());
    entries_.pop_back();
    if (entries_.empty()) clear();  // the storage goes with the last entry
  }

  /// Empties the map and releases its storage.
  void clear() noexcept { entries_ = std::vector<value_type>(); }  // (`= {}` would keep the capacity)

 private:
  std::vector<value_type> entries_;
};

}  // namespace sluice::util
