// The benchmark payload: a JSON string literal of a fixed size carrying a
// kind, a sequence number and the send time, so one format serves the
// Sluice protocol (as the event's "data") and the peers' broadcast protocol
// (as the whole message).
//
//   "D0000000000000001.000001a2b3c4d5e6price:512.7,size:..."
//    ^kind ^seq (16 hex)  ^send time, ns (16 hex)  ^padding to the size
#pragma once

#include <cstddef>
#include <algorithm>
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

/// The padding: order-book-like text (fields, prices, sizes; no quote or
/// backslash) that compresses about as well as real JSON events do, so a
/// --deflate figure does not flatter (a run of one letter would shrink 100×).
/// The same bytes every run.
inline const std::string& padding_text() {
  static const std::string text = [] {
    static constexpr const char* kSides[] = {"buy", "sell"};
    std::string t;
    std::uint32_t x = 2463534242u;  // xorshift32: deterministic
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      return x;
    };
    while (t.size() < 64 * 1024) {
      t += "price:" + std::to_string(100 + next() % 900) + "." + std::to_string(next() % 100) +
           ",size:" + std::to_string(1 + next() % 5000) + ",side:" + kSides[next() % 2] + ";";
    }
    return t;
  }();
  return text;
}

/// Writes a payload of exactly `size` bytes (>= kMinPayloadSize) into `out`.
inline void encode_payload(std::string& out, std::size_t size, const PayloadFields& f) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string& padding = padding_text();
  out.clear();
  while (out.size() < size) out.append(padding, 0, std::min(padding.size(), size - out.size()));
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
