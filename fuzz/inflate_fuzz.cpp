// libFuzzer target for MessageInflater: untrusted permessage-deflate payloads,
// split into frames and messages, must never crash, leak or exceed the limit.
//
// Input layout:
//   byte 0          config: bit 0 = no_context_takeover
//   then frames     header byte: bit 7 = last frame of its message,
//                   bits 0-6 = payload length; 127 means a 16-bit big-endian
//                   length follows. The payload is clamped to the bytes left.
// Input that ends with a message still open is fed a final empty last frame.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <system_error>
#include <vector>

#include "sluice/protocol/deflate.hpp"
#include "sluice/protocol/error.hpp"

namespace {

constexpr std::size_t kLimit = 1024 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using sluice::protocol::Error;
  if (size == 0) return 0;
  const bool no_context_takeover = (data[0] & 1) != 0;
  sluice::protocol::MessageInflater inflater(no_context_takeover);

  std::span<const std::uint8_t> rest(data + 1, size - 1);
  std::vector<std::uint8_t> message;
  bool open = false;  // a message has frames but no last frame yet
  while (!rest.empty() || open) {
    bool last = true;
    std::span<const std::uint8_t> payload;
    if (!rest.empty()) {
      const std::uint8_t header = rest[0];
      rest = rest.subspan(1);
      last = (header & 0x80) != 0;
      std::size_t len = header & 0x7f;
      if (len == 127 && rest.size() >= 2) {
        len = (std::size_t{rest[0]} << 8) | rest[1];
        rest = rest.subspan(2);
      }
      if (len > rest.size()) len = rest.size();
      payload = rest.first(len);
      rest = rest.subspan(len);
    }

    const std::error_code ec = inflater.decompress(payload, last, message, kLimit);
    if (message.size() > kLimit) std::abort();  // the limit is the contract under test
    if (ec) {
      if (ec != Error::inflate_failed && ec != Error::message_too_big) std::abort();
      return 0;  // the inflater must not be used after an error
    }
    open = !last;
    if (last) message.clear();
  }
  return 0;
}
