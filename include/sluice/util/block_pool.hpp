// Fixed-size blocks carved from slabs, for the objects every connection holds
// for its whole life (the connection, its /v1/ws session). Packed side by side
// with no allocator header between them, and apart from the short-lived
// buffers of handshakes, whose holes otherwise sat between long-lived objects
// (about 70 bytes per idle connection, measured with malloc_stats; see
// docs/benchmarks.md "Idle memory").
//
// Thread safety: take() and give() may be called from any thread (a mutex: a
// block is taken when a connection opens and given back when it is freed).
// Lifetime: slabs are kept for the life of the process and their blocks reused.
// Under AddressSanitizer blocks come from operator new, so it still sees every
// use after free.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace sluice::util {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kPoolBlocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kPoolBlocks = false;
#else
inline constexpr bool kPoolBlocks = true;
#endif
#else
inline constexpr bool kPoolBlocks = true;
#endif

class BlockPool {
 public:
  static constexpr std::size_t kSlabBytes = 64 * 1024;

  explicit BlockPool(std::size_t block_size) : block_size_(block_size < sizeof(Free) ? sizeof(Free) : block_size) {}
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void* take() {
    std::lock_guard lock(mutex_);
    if (free_) {
      Free* block = free_;
      free_ = block->next;
      return block;
    }
    if (next_ + block_size_ > end_) {
      slabs_.push_back(std::make_unique<std::byte[]>(kSlabBytes));  // aligned for any fundamental type
      next_ = slabs_.back().get();
      end_ = next_ + kSlabBytes;
    }
    void* block = next_;
    next_ += block_size_;
    return block;
  }

  void give(void* block) noexcept {
    std::lock_guard lock(mutex_);
    free_ = ::new (block) Free{free_};
  }

 private:
  struct Free {
    Free* next;
  };
  std::mutex mutex_;
  const std::size_t block_size_;
  Free* free_ = nullptr;
  std::byte* next_ = nullptr;
  std::byte* end_ = nullptr;
  std::vector<std::unique_ptr<std::byte[]>> slabs_;
};

/// A stateless allocator drawing single objects of T from one BlockPool per
/// T (arrays, such as a hash map's buckets, come from operator new). For
/// std::allocate_shared and node-based containers.
template <class T>
struct PooledAllocator {
  using value_type = T;
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

  PooledAllocator() noexcept = default;
  template <class U>
  PooledAllocator(const PooledAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (!kPoolBlocks || n != 1) return std::allocator<T>{}.allocate(n);
    return static_cast<T*>(pool().take());
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (!kPoolBlocks || n != 1) return std::allocator<T>{}.deallocate(p, n);
    pool().give(p);
  }

  /// Never destroyed: objects may be freed during static destruction.
  static BlockPool& pool() {
    static BlockPool* instance = new BlockPool(sizeof(T));
    return *instance;
  }

  friend bool operator==(const PooledAllocator&, const PooledAllocator&) noexcept { return true; }
};

}  // namespace sluice::util
