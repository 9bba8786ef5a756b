// deflate_server_frames: frames compressed once for many connections. The
// output is checked with zlib directly (one inflate stream kept across
// messages, as a peer with context takeover keeps it), not with deflate.cpp.
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "sluice/protocol/frame.hpp"
#include "sluice/protocol/shared_deflate.hpp"

namespace sluice::protocol {
namespace {

std::string whole_server_frame(Opcode op, const std::string& payload, bool fin = true) {
  const auto head = make_server_header(op, payload.size(), fin);
  return std::string(reinterpret_cast<const char*>(head.bytes.data()), head.size) + payload;
}

struct DecodedFrame {
  FrameHeader header;
  std::string payload;
};

std::vector<DecodedFrame> decode_frames(const std::string& bytes) {
  std::vector<DecodedFrame> frames;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    DecodedFrame f;
    const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data()) + pos;
    const std::size_t size = decode_frame_header({data, bytes.size() - pos}, f.header);
    EXPECT_NE(size, 0u);
    if (size == 0) break;
    f.payload = bytes.substr(pos + size, f.header.payload_length);
    pos += size + f.header.payload_length;
    frames.push_back(std::move(f));
  }
  return frames;
}

// A peer's inflater with context takeover: one raw stream for every message.
class PeerInflater {
 public:
  PeerInflater() { EXPECT_EQ(inflateInit2(&z_, -15), Z_OK); }
  ~PeerInflater() { inflateEnd(&z_); }
  std::string inflate_message(std::string compressed) {
    compressed += std::string("\x00\x00\xff\xff", 4);  // RFC 7692 §7.2.2
    std::string out(1 << 20, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(compressed.data());
    z_.avail_in = static_cast<uInt>(compressed.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&z_, Z_SYNC_FLUSH), Z_OK);
    EXPECT_EQ(z_.avail_in, 0u);
    out.resize(out.size() - z_.avail_out);
    return out;
  }

 private:
  z_stream z_{};
};

std::string order_book_event(int n) {
  std::string data = "{\"type\":\"event\",\"event\":{\"id\":\"evt_" + std::to_string(n) + "\",\"data\":[";
  for (int i = 0; i < 40; ++i) data += "{\"price\":" + std::to_string(100 + i % 7) + ",\"side\":\"buy\"},";
  return data + "null]}}";
}

std::string incompressible_bytes(std::size_t n) {
  std::mt19937 rng(7);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(SharedDeflate, CompressesWhatShrinksAndCopiesTheRestInOrder) {
  const std::string big1 = order_book_event(1), big2 = order_book_event(2), small = "{\"a\":1}", noise = incompressible_bytes(300);
  const std::string frames = whole_server_frame(Opcode::text, big1) + whole_server_frame(Opcode::text, small) +
                             whole_server_frame(Opcode::binary, noise) + whole_server_frame(Opcode::text, big2);
  DeflateOptions options;
  const auto out = deflate_server_frames(frames, options);
  ASSERT_TRUE(out.has_value());
  const auto parsed = decode_frames(*out);
  ASSERT_EQ(parsed.size(), 4u);

  PeerInflater peer;
  EXPECT_TRUE(parsed[0].header.rsv1);
  EXPECT_LT(parsed[0].payload.size(), big1.size() / 2);
  EXPECT_EQ(parsed[0].header.opcode, static_cast<std::uint8_t>(Opcode::text));
  EXPECT_EQ(peer.inflate_message(parsed[0].payload), big1);
  // Below min_compress_size, and incompressible: unchanged, RSV1 clear.
  EXPECT_FALSE(parsed[1].header.rsv1);
  EXPECT_EQ(parsed[1].payload, small);
  EXPECT_FALSE(parsed[2].header.rsv1);
  EXPECT_EQ(parsed[2].payload, noise);
  EXPECT_EQ(parsed[2].header.opcode, static_cast<std::uint8_t>(Opcode::binary));
  // The peer's stream kept the first message in its window: the second still
  // decodes (it refers to nothing before itself).
  EXPECT_TRUE(parsed[3].header.rsv1);
  EXPECT_EQ(peer.inflate_message(parsed[3].payload), big2);
}

TEST(SharedDeflate, EveryMessageStartsFromAnEmptyDictionary) {
  // The same event twice: with a kept context the second would shrink to a
  // back-reference; compressed alone it is as long as the first.
  const std::string event = order_book_event(3);
  const auto out = deflate_server_frames(whole_server_frame(Opcode::text, event) + whole_server_frame(Opcode::text, event), {});
  ASSERT_TRUE(out.has_value());
  const auto parsed = decode_frames(*out);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0].payload, parsed[1].payload);
  PeerInflater fresh;
  EXPECT_EQ(fresh.inflate_message(parsed[1].payload), event);
}

TEST(SharedDeflate, NothingWorthCompressingOrNotFramesGiveNothing) {
  EXPECT_FALSE(deflate_server_frames(whole_server_frame(Opcode::text, "{\"a\":1}"), {}).has_value());
  EXPECT_FALSE(deflate_server_frames(whole_server_frame(Opcode::binary, incompressible_bytes(500)), {}).has_value());
  const std::string event = order_book_event(4);
  // A fragment is left alone (RSV1 belongs on a message's first frame only).
  EXPECT_FALSE(deflate_server_frames(whole_server_frame(Opcode::text, event, /*fin=*/false), {}).has_value());
  // Cut short, or masked (a client's frame): not a run of server frames.
  const std::string whole = whole_server_frame(Opcode::text, event);
  EXPECT_FALSE(deflate_server_frames(whole.substr(0, whole.size() - 1), {}).has_value());
  std::vector<std::uint8_t> masked;
  append_frame(masked, Role::client, Opcode::text,
               {reinterpret_cast<const std::uint8_t*>(event.data()), event.size()});
  EXPECT_FALSE(deflate_server_frames({reinterpret_cast<const char*>(masked.data()), masked.size()}, {}).has_value());
}

}  // namespace
}  // namespace sluice::protocol
