// Frame headers (RFC 6455 §5.2): encoding and decoding.
#include "sluice/protocol/frame.hpp"

#include <gtest/gtest.h>

#include <set>

#include "protocol/test_util.hpp"

namespace sluice::protocol::test {
namespace {

FrameHeader decode_ok(std::span<const std::uint8_t> in, std::size_t expected_size) {
  FrameHeader h;
  EXPECT_EQ(decode_frame_header(in, h), expected_size) << to_hex(in);
  return h;
}

TEST(FrameDecode, RfcExamples) {
  // RFC 6455 §5.7.
  {
    const Bytes f = from_hex("81 05 48 65 6c 6c 6f");  // unmasked "Hello"
    const FrameHeader h = decode_ok(f, 2);
    EXPECT_TRUE(h.fin);
    EXPECT_FALSE(h.rsv1 || h.rsv2 || h.rsv3);
    EXPECT_EQ(h.opcode, 0x1);
    EXPECT_FALSE(h.masked);
    EXPECT_EQ(h.payload_length, 5u);
    EXPECT_TRUE(h.minimal_length);
  }
  {
    const Bytes f = from_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");  // masked "Hello"
    const FrameHeader h = decode_ok(f, 6);
    EXPECT_TRUE(h.masked);
    EXPECT_EQ(h.mask, kTestMask);
    EXPECT_EQ(h.payload_length, 5u);
    Bytes payload(f.begin() + 6, f.end());
    apply_mask(payload, h.mask);
    EXPECT_EQ(payload, to_bytes("Hello"));
  }
  {
    const FrameHeader h = decode_ok(from_hex("01 03 48 65 6c"), 2);  // first fragment of "Hello"
    EXPECT_FALSE(h.fin);
    EXPECT_EQ(h.opcode, 0x1);
    const FrameHeader h2 = decode_ok(from_hex("80 02 6c 6f"), 2);
    EXPECT_TRUE(h2.fin);
    EXPECT_EQ(h2.opcode, 0x0);
  }
  {
    const FrameHeader h = decode_ok(from_hex("89 05 48 65 6c 6c 6f"), 2);  // ping
    EXPECT_EQ(h.opcode, 0x9);
    const FrameHeader p = decode_ok(from_hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), 6);  // masked pong
    EXPECT_EQ(p.opcode, 0xA);
    EXPECT_TRUE(p.masked);
  }
  {
    const FrameHeader h = decode_ok(from_hex("82 7e 01 00"), 4);  // 256 bytes binary
    EXPECT_EQ(h.opcode, 0x2);
    EXPECT_EQ(h.payload_length, 256u);
    EXPECT_TRUE(h.minimal_length);
    const FrameHeader g = decode_ok(from_hex("82 7f 00 00 00 00 00 01 00 00"), 10);  // 64 KiB binary
    EXPECT_EQ(g.payload_length, 65536u);
    EXPECT_TRUE(g.minimal_length);
  }
}

TEST(FrameDecode, AllBitsAndOpcodes) {
  for (unsigned b0 = 0; b0 < 256; ++b0) {
    const Bytes f{static_cast<std::uint8_t>(b0), 0x00};
    const FrameHeader h = decode_ok(f, 2);
    EXPECT_EQ(h.fin, (b0 & 0x80) != 0);
    EXPECT_EQ(h.rsv1, (b0 & 0x40) != 0);
    EXPECT_EQ(h.rsv2, (b0 & 0x20) != 0);
    EXPECT_EQ(h.rsv3, (b0 & 0x10) != 0);
    EXPECT_EQ(h.opcode, b0 & 0x0F);
    EXPECT_EQ(h.payload_length, 0u);
  }
}

struct LengthCase {
  const char* hex;  // header bytes
  std::uint64_t length;
  bool minimal;
};

TEST(FrameDecode, LengthEncodingsAndMinimality) {
  const LengthCase cases[] = {
      {"82 00", 0, true},
      {"82 7d", 125, true},
      {"82 7e 00 7e", 126, true},
      {"82 7e ff ff", 65535, true},
      {"82 7f 00 00 00 00 00 01 00 00", 65536, true},
      {"82 7f 00 00 00 01 00 00 00 00", 1ull << 32, true},
      {"82 7f 7f ff ff ff ff ff ff ff", 0x7FFFFFFFFFFFFFFFull, true},
      // A header with the high bit set decodes (the codec rejects it, not the decoder).
      {"82 7f 80 00 00 00 00 00 00 00", 0x8000000000000000ull, true},
      {"82 7e 00 00", 0, false},
      {"82 7e 00 7d", 125, false},
      {"82 7f 00 00 00 00 00 00 00 00", 0, false},
      {"82 7f 00 00 00 00 00 00 00 7d", 125, false},
      {"82 7f 00 00 00 00 00 00 00 7e", 126, false},
      {"82 7f 00 00 00 00 00 00 ff ff", 65535, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.hex);
    const Bytes header = from_hex(c.hex);
    const FrameHeader h = decode_ok(header, header.size());
    EXPECT_EQ(h.payload_length, c.length);
    EXPECT_EQ(h.minimal_length, c.minimal);
    EXPECT_FALSE(h.masked);
  }
}

TEST(FrameDecode, EveryTruncatedPrefixReturnsZero) {
  const char* headers[] = {
      "81 05",
      "81 85 37 fa 21 3d",
      "82 7e 01 00",
      "82 fe 01 00 37 fa 21 3d",
      "82 7f 00 00 00 00 00 01 00 00",
      "82 ff 00 00 00 01 00 00 00 00 37 fa 21 3d",
  };
  for (const char* hex : headers) {
    SCOPED_TRACE(hex);
    const Bytes full = from_hex(hex);
    for (std::size_t n = 0; n < full.size(); ++n) {
      // An exactly-sized heap copy, so a read past the end is caught by ASan.
      const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      FrameHeader h;
      h.payload_length = 4242;
      EXPECT_EQ(decode_frame_header(prefix, h), 0u) << "prefix of " << n;
    }
    FrameHeader h;
    EXPECT_EQ(decode_frame_header(full, h), full.size());
    EXPECT_EQ(frame_header_size(full[0], full[1]), full.size());
  }
}

TEST(FrameDecode, IgnoresPayloadBytesAfterTheHeader) {
  const Bytes f = cat(from_hex("82 7e 00 80"), Bytes(128, 0x55));
  const FrameHeader h = decode_ok(f, 4);
  EXPECT_EQ(h.payload_length, 128u);
}

TEST(FrameHeaderSize, FromTheSecondByte) {
  EXPECT_EQ(frame_header_size(0x81, 0x00), 2u);
  EXPECT_EQ(frame_header_size(0x81, 0x7D), 2u);
  EXPECT_EQ(frame_header_size(0x81, 0x7E), 4u);
  EXPECT_EQ(frame_header_size(0x81, 0x7F), 10u);
  EXPECT_EQ(frame_header_size(0x81, 0x80), 6u);
  EXPECT_EQ(frame_header_size(0x81, 0xFD), 6u);
  EXPECT_EQ(frame_header_size(0x81, 0xFE), 8u);
  EXPECT_EQ(frame_header_size(0x81, 0xFF), 14u);
}

TEST(FrameEncode, RoundTripForEveryLengthForm) {
  const std::uint64_t lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 1ull << 32, (1ull << 63) - 1};
  for (std::uint64_t len : lengths) {
    for (bool masked : {false, true}) {
      for (std::uint8_t op : {kCont, kText, kBinary, kClose, kPing, kPong, std::uint8_t{0x3}, std::uint8_t{0xF}}) {
        for (unsigned bits = 0; bits < 16; ++bits) {
          SCOPED_TRACE(::testing::Message() << "len " << len << " masked " << masked << " op " << unsigned{op} << " bits " << bits);
          FrameHeader h;
          h.fin = bits & 1;
          h.rsv1 = bits & 2;
          h.rsv2 = bits & 4;
          h.rsv3 = bits & 8;
          h.opcode = op;
          h.masked = masked;
          h.mask = masked ? kTestMask : MaskKey{};
          h.payload_length = len;
          std::uint8_t buf[kMaxFrameHeaderSize + 4];
          std::fill(std::begin(buf), std::end(buf), 0xEE);
          const std::size_t size = encode_frame_header(h, buf);
          // Against the independent builder (minimal form).
          FrameOpts o;
          o.fin = h.fin;
          o.rsv1 = h.rsv1;
          o.rsv2 = h.rsv2;
          o.rsv3 = h.rsv3;
          if (masked) o.mask = kTestMask;
          o.declared_length = len;
          const Bytes expected = build_frame(op, {}, o);
          ASSERT_EQ(Bytes(buf, buf + size), expected);
          ASSERT_EQ(buf[size], 0xEE) << "wrote past the header";
          // And back.
          FrameHeader d;
          ASSERT_EQ(decode_frame_header({buf, size}, d), size);
          EXPECT_EQ(d.fin, h.fin);
          EXPECT_EQ(d.rsv1, h.rsv1);
          EXPECT_EQ(d.rsv2, h.rsv2);
          EXPECT_EQ(d.rsv3, h.rsv3);
          EXPECT_EQ(d.opcode, h.opcode);
          EXPECT_EQ(d.masked, h.masked);
          if (masked) {
            EXPECT_EQ(d.mask, kTestMask);
          }
          EXPECT_EQ(d.payload_length, len);
          EXPECT_TRUE(d.minimal_length);
        }
      }
    }
  }
}

TEST(FrameEncode, SizesAtTheLengthFormBoundaries) {
  struct Case {
    std::uint64_t len;
    std::size_t unmasked, masked;
  };
  for (const Case c : {Case{0, 2, 6}, Case{125, 2, 6}, Case{126, 4, 8}, Case{65535, 4, 8}, Case{65536, 10, 14},
                       Case{1ull << 32, 10, 14}}) {
    FrameHeader h;
    h.opcode = 2;
    h.payload_length = c.len;
    std::uint8_t buf[kMaxFrameHeaderSize];
    EXPECT_EQ(encode_frame_header(h, buf), c.unmasked) << c.len;
    h.masked = true;
    EXPECT_EQ(encode_frame_header(h, buf), c.masked) << c.len;
  }
}

TEST(FrameServerHeader, ExactBytes) {
  auto view = [](const EncodedHeader& e) { return Bytes(e.view().begin(), e.view().end()); };
  EXPECT_EQ(view(make_server_header(Opcode::text, 5)), from_hex("81 05"));
  EXPECT_EQ(view(make_server_header(Opcode::text, 0)), from_hex("81 00"));
  EXPECT_EQ(view(make_server_header(Opcode::binary, 125)), from_hex("82 7d"));
  EXPECT_EQ(view(make_server_header(Opcode::binary, 126)), from_hex("82 7e 00 7e"));
  EXPECT_EQ(view(make_server_header(Opcode::binary, 65535)), from_hex("82 7e ff ff"));
  EXPECT_EQ(view(make_server_header(Opcode::binary, 65536)), from_hex("82 7f 00 00 00 00 00 01 00 00"));
  EXPECT_EQ(view(make_server_header(Opcode::binary, 1ull << 32)), from_hex("82 7f 00 00 00 01 00 00 00 00"));
  EXPECT_EQ(view(make_server_header(Opcode::text, 3, false)), from_hex("01 03"));
  EXPECT_EQ(view(make_server_header(Opcode::continuation, 3, true)), from_hex("80 03"));
  EXPECT_EQ(view(make_server_header(Opcode::text, 7, true, true)), from_hex("c1 07"));
  EXPECT_EQ(view(make_server_header(Opcode::text, 3, false, true)), from_hex("41 03"));
  EXPECT_EQ(view(make_server_header(Opcode::close, 2)), from_hex("88 02"));
  EXPECT_EQ(view(make_server_header(Opcode::ping, 0)), from_hex("89 00"));
  EXPECT_EQ(view(make_server_header(Opcode::pong, 125)), from_hex("8a 7d"));
  EXPECT_EQ(make_server_header(Opcode::binary, 70000).size, 10);
}

TEST(FrameAppend, ServerFramesAreUnmaskedAndExact) {
  for (std::size_t n : {0u, 5u, 125u, 126u, 65535u, 65536u}) {
    const Bytes payload = random_bytes(n, static_cast<std::uint32_t>(n));
    Bytes out = from_hex("aa bb");  // existing content is kept
    append_frame(out, Role::server, Opcode::binary, payload);
    EXPECT_EQ(out, cat(from_hex("aa bb"), server_bytes(kBinary, payload))) << n;
  }
  Bytes out;
  append_frame(out, Role::server, Opcode::text, as_span("Hel"), false);
  append_frame(out, Role::server, Opcode::continuation, as_span("lo"), true);
  EXPECT_EQ(out, from_hex("01 03 48 65 6c 80 02 6c 6f"));  // RFC 6455 §5.7 fragmented "Hello"
  out.clear();
  append_frame(out, Role::server, Opcode::text, as_span("Hello"), true, true);
  EXPECT_EQ(out, from_hex("c1 05 48 65 6c 6c 6f"));
}

TEST(FrameAppend, ClientFramesAreMaskedWithTheKeyInTheHeader) {
  std::set<MaskKey> keys;
  for (std::size_t n : {0u, 1u, 5u, 125u, 126u, 1000u, 65535u, 65536u, 70000u}) {
    SCOPED_TRACE(n);
    const Bytes payload = random_bytes(n, static_cast<std::uint32_t>(n + 1));
    Bytes out = from_hex("01");
    append_frame(out, Role::client, Opcode::binary, payload, false, true);
    ASSERT_EQ(out[0], 0x01);
    bool complete = false;
    const auto frames = parse_frames(std::span(out).subspan(1), &complete);
    ASSERT_TRUE(complete);
    ASSERT_EQ(frames.size(), 1u);
    const ParsedFrame& f = frames[0];
    EXPECT_TRUE(f.masked);
    EXPECT_FALSE(f.fin);
    EXPECT_TRUE(f.rsv1);
    EXPECT_EQ(f.opcode, kBinary);
    EXPECT_TRUE(f.minimal_length);
    EXPECT_EQ(f.payload, payload);  // parse_frames unmasks with the header's key
    keys.insert(f.mask);
    // The wire bytes are the payload XOR the header's key, byte by byte (a key
    // byte may be 0: comparing with the plain payload would then be flaky).
    Bytes expected_wire = payload;
    for (std::size_t i = 0; i < n; ++i) expected_wire[i] ^= f.mask[i % 4];
    EXPECT_EQ(Bytes(out.end() - static_cast<std::ptrdiff_t>(n), out.end()), expected_wire);
  }
  EXPECT_GE(keys.size(), 8u);  // fresh keys per frame
}

TEST(FrameOpcode, Classification) {
  for (unsigned op = 0; op < 16; ++op) {
    const bool known = op == 0 || op == 1 || op == 2 || op == 8 || op == 9 || op == 10;
    EXPECT_EQ(is_known_opcode(static_cast<std::uint8_t>(op)), known) << op;
    EXPECT_EQ(is_control(static_cast<Opcode>(op)), op >= 8) << op;
  }
}

}  // namespace
}  // namespace sluice::protocol::test
