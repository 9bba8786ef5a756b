// Incremental UTF-8 validation (RFC 3629) for text messages and close reasons.
//
// Fails fast: feed() returns false at the first byte that cannot begin or
// continue a valid sequence, even when the sequence is split across calls
// (so across frames of a fragmented message), and even for truncated overlong
// forms and surrogates (e.g. 0xE0 0x80 fails at the second byte).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::protocol {

/// Validates one text message, chunk by chunk. Not thread-safe; cheap to copy.
class Utf8Validator {
 public:
  /// Validates the next chunk. Returns false once the message can no longer
  /// be valid; the validator then stays failed until reset().
  bool feed(std::span<const std::uint8_t> chunk) noexcept;

  /// True when every byte so far formed complete, valid code points (call at
  /// the end of the message: a trailing partial sequence is invalid).
  bool complete() const noexcept { return state_ == 0; }
  bool failed() const noexcept;
  void reset() noexcept { state_ = 0; }

 private:
  std::uint64_t state_ = 0;  // a shift-DFA state: the bit offset of the state's field
};

/// True if `text` is complete, valid UTF-8. Pure function, thread-safe.
bool is_valid_utf8(std::span<const std::uint8_t> text) noexcept;

}  // namespace sluice::protocol
