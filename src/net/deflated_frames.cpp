#include "sluice/net/deflated_frames.hpp"

#include <array>
#include <cstddef>

#include "sluice/protocol/shared_deflate.hpp"

namespace sluice::net {

namespace {

// Fan-out sends one frame to every subscriber before the next frame: a few
// entries catch it, and hold at most that many compressed frames per thread.
constexpr std::size_t kRemembered = 8;

struct Remembered {
  std::weak_ptr<const std::string> original;  // watched, not kept: an expired entry is free
  const std::string* key = nullptr;
  std::shared_ptr<const std::string> deflated;  // null: compressing did not help
};

struct Memory {
  std::array<Remembered, kRemembered> entries;
  std::size_t next = 0;  // the slot to fill next (the oldest)
};

}  // namespace

std::shared_ptr<const std::string> deflated_frame(const std::shared_ptr<const std::string>& frame,
                                                  const protocol::DeflateOptions& options) {
  thread_local Memory memory;
  // Newest first: the frame of this fan-out is usually the last one compressed.
  for (std::size_t i = 1; i <= kRemembered; ++i) {
    Remembered& entry = memory.entries[(memory.next + kRemembered - i) % kRemembered];
    // The pointer alone could be a new frame at a freed one's address: the
    // watched original must share the frame's owner (alive, as `frame` is).
    if (entry.key == frame.get() && !entry.original.owner_before(frame) && !frame.owner_before(entry.original)) {
      return entry.deflated ? entry.deflated : frame;
    }
  }
  auto compressed = protocol::deflate_server_frames(*frame, options);
  Remembered& slot = memory.entries[memory.next];
  memory.next = (memory.next + 1) % kRemembered;
  slot.original = frame;
  slot.key = frame.get();
  slot.deflated = compressed ? std::make_shared<const std::string>(std::move(*compressed)) : nullptr;
  return slot.deflated ? slot.deflated : frame;
}

}  // namespace sluice::net
