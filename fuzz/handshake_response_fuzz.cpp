// libFuzzer target for ClientHandshake: untrusted response bytes, fed in
// arbitrary splits, must never crash, and the outcome must not depend on the
// split.
//
// Input layout:
//   byte 0   config: bits 0-5 = split size (0: all at once), bit 6 = offer
//            permessage-deflate with limits, bit 7 = offer subprotocols
//   rest     the bytes a server sent. Every "{A}" is replaced by the correct
//            Sec-WebSocket-Accept value for this client's random key, so the
//            fuzzer can reach the checks behind the accept key.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "sluice/protocol/error.hpp"
#include "sluice/protocol/handshake.hpp"

namespace {

using sluice::protocol::ClientHandshake;
using sluice::protocol::ClientHandshakeOptions;
using sluice::protocol::Error;
using sluice::protocol::HandshakeStatus;

ClientHandshakeOptions make_options(std::uint8_t config) {
  ClientHandshakeOptions options;
  options.host = "example.com";
  options.max_header_bytes = 2048;
  if ((config & 0x40) != 0) {
    options.deflate.enabled = true;
    options.deflate.server_max_window_bits = 12;
    options.deflate.client_max_window_bits = 11;
    options.deflate.server_no_context_takeover = true;
  }
  if ((config & 0x80) != 0) options.subprotocols = {"chat", "superchat"};
  return options;
}

std::string with_accept_key(std::string bytes, const std::string& accept) {
  for (std::size_t at = bytes.find("{A}"); at != std::string::npos;
       at = bytes.find("{A}", at + accept.size())) {
    bytes.replace(at, 3, accept);
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ClientHandshakeOptions options = make_options(data[0]);
  const std::size_t chunk = data[0] & 0x3f;

  const std::string raw(reinterpret_cast<const char*>(data + 1), size - 1);
  ClientHandshake split(options);
  const std::string bytes = with_accept_key(raw, sluice::protocol::compute_accept_key(split.key()));
  const std::span<const char> input(bytes.data(), bytes.size());
  HandshakeStatus status = HandshakeStatus::need_more;
  const std::size_t step = chunk == 0 ? std::max<std::size_t>(input.size(), 1) : chunk;
  for (std::size_t i = 0; i < input.size(); i += step) {
    status = split.feed(input.subspan(i, std::min(step, input.size() - i)));
  }

  // A second client (with its own random key) fed everything at once must agree.
  ClientHandshake whole(options);
  const std::string whole_bytes =
      with_accept_key(raw, sluice::protocol::compute_accept_key(whole.key()));
  const HandshakeStatus whole_status =
      whole.feed(std::span<const char>(whole_bytes.data(), whole_bytes.size()));
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
  if (split.error() == make_error_code(Error::header_too_large) &&
      whole.error() == make_error_code(Error::bad_http_response)) {
    return 0;
  }
  if (whole.error() != split.error() || whole.subprotocol() != split.subprotocol() ||
      whole.deflate().has_value() != split.deflate().has_value() ||
      // Leftovers may hold each client's own "{A}" substitution: equal sizes only.
      (status == HandshakeStatus::accepted && whole.leftover().size() != split.leftover().size())) {
    std::abort();
  }

  if (status == HandshakeStatus::accepted) {
    if (split.error() || split.response().result_int() != 101) std::abort();
    if (split.deflate()) {
      if (!options.deflate.enabled) std::abort();
      const auto& d = *split.deflate();
      // Never above what we asked for, and never an 8-bit window for our deflater.
      if (d.server_max_window_bits < 8 || d.server_max_window_bits > 12) std::abort();
      if (d.client_max_window_bits < 9 || d.client_max_window_bits > 11) std::abort();
    }
    if (!split.subprotocol().empty() && options.subprotocols.empty()) std::abort();
  } else if (status == HandshakeStatus::rejected) {
    if (!split.error() || split.deflate() || !split.subprotocol().empty()) std::abort();
  }
  return 0;
}
