// libFuzzer target for ServerHandshake: untrusted request bytes, fed in
// arbitrary splits, must never crash, and the decision must not depend on the
// split.
//
// Input layout:
//   byte 0   config: bits 0-5 = split size (0: all at once), bit 6 = deflate
//            enabled with tight limits, bit 7 = the server speaks subprotocols
//   rest     the bytes a client sent
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "sluice/protocol/error.hpp"
#include "sluice/protocol/handshake.hpp"

namespace {

using sluice::protocol::Error;
using sluice::protocol::HandshakeStatus;
using sluice::protocol::ServerHandshake;
using sluice::protocol::ServerHandshakeOptions;

ServerHandshakeOptions make_options(std::uint8_t config) {
  ServerHandshakeOptions options;
  options.max_header_bytes = 2048;
  options.origin_check = [](std::string_view origin) { return origin != "https://evil.example"; };
  if ((config & 0x40) != 0) {
    options.deflate.enabled = true;
    options.deflate.server_max_window_bits = 10;
    options.deflate.client_max_window_bits = 12;
    options.deflate.client_no_context_takeover = true;
  }
  if ((config & 0x80) != 0) options.subprotocols = {"superchat", "chat"};
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ServerHandshakeOptions options = make_options(data[0]);
  const std::size_t chunk = data[0] & 0x3f;
  const std::span<const char> input(reinterpret_cast<const char*>(data + 1), size - 1);

  ServerHandshake split(options);
  HandshakeStatus status = HandshakeStatus::need_more;
  const std::size_t step = chunk == 0 ? std::max<std::size_t>(input.size(), 1) : chunk;
  for (std::size_t i = 0; i < input.size(); i += step) {
    status = split.feed(input.subspan(i, std::min(step, input.size() - i)));
  }

  ServerHandshake whole(options);
  const HandshakeStatus whole_status = whole.feed(input);
  if (whole_status != status) {
    // Beast parses a head it has whole line by line, but a partial one only
    // once its end arrived, so a split feed may still wait on an error that
    // the whole feed already saw. Any other difference is a bug.
    if (status != HandshakeStatus::need_more || whole_status != HandshakeStatus::rejected) {
      std::abort();
    }
    return 0;
  }
  // Likewise a split feed may reach the size limit before seeing that error.
  if (split.decision().error == make_error_code(Error::header_too_large) &&
      whole.decision().error == make_error_code(Error::bad_http_request)) {
    return 0;
  }
  if (status == HandshakeStatus::need_more) return 0;

  const auto& a = split.decision();
  const auto& b = whole.decision();
  if (a.error != b.error || a.response != b.response || a.subprotocol != b.subprotocol ||
      a.deflate.has_value() != b.deflate.has_value() ||
      (status == HandshakeStatus::accepted && split.leftover() != whole.leftover())) {
    std::abort();
  }
  // Accepted means no error and a 101; rejected means an error and an error status.
  const bool switching = a.response.rfind("HTTP/1.1 101 ", 0) == 0;
  if ((status == HandshakeStatus::accepted) != (!a.error && switching)) std::abort();
  if (a.deflate) {
    const auto& d = *a.deflate;
    // We never agree to compress with a window zlib cannot produce, or above our limit.
    if (d.server_max_window_bits < 9 || d.server_max_window_bits > 10) std::abort();
    if (d.client_max_window_bits < 8 || d.client_max_window_bits > 15) std::abort();
  }
  return 0;
}
