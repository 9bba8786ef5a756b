// The benchmark payload: a JSON string literal of a fixed size carrying a
// kind, a sequence number and the send time, so one format serves the
// Sluice protocol (as the event's "data") and the peers' broadcast protocol
// (as the whole message).
//
//   "D0000000000000001.000001a2b3c4d5e6xxxx...x"
//    ^kind ^seq (16 hex)  ^send time, ns (16 hex)  ^padding to the size
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::bench {

inline constexpr std::size_t kMinPayloadSize = 36;

enum class PayloadKind : char { data = 'D', sync = 'S' };

struct PayloadFields {
  PayloadKind kind = PayloadKind::data;
  std::uint64_t seq = 0;
  std::uint64_t sent_ns = 0;
};

/// Writes a payload of exactly `size` bytes (>= kMinPayloadSize) into `out`.
inline void encode_payload(std::string& out, std::size_t size, const PayloadFields& f) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.assign(size, 'x');
  out[0] = '"';
  out[1] = static_cast<char>(f.kind);
  for (int i = 0; i < 16; ++i) out[2 + i] = kHex[(f.seq >> (60 - 4 * i)) & 0xF];
  out[18] = '.';
  for (int i = 0; i < 16; ++i) out[19 + i] = kHex[(f.sent_ns >> (60 - 4 * i)) & 0xF];
  out[size - 1] = '"';
}

/// Parses a payload written by encode_payload; nullopt if it is not one.
inline std::optional<PayloadFields> decode_payload(std::string_view p) {
  if (p.size() < kMinPayloadSize || p.front() != '"' || p.back() != '"' || p[18] != '.') return std::nullopt;
  if (p[1] != 'D' && p[1] != 'S') return std::nullopt;
  auto hex16 = [](std::string_view s, std::uint64_t& v) {
    v = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else return false;
      v = (v << 4) | static_cast<unsigned>(d);
    }
    return true;
  };
  PayloadFields f;
  f.kind = static_cast<PayloadKind>(p[1]);
  if (!hex16(p.substr(2, 16), f.seq) || !hex16(p.substr(19, 16), f.sent_ns)) return std::nullopt;
  return f;
}

}  // namespace sluice::bench
