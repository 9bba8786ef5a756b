// Centrifugo's JSON client protocol, sans-I/O: commands decoded from text
// messages, replies and pushes encoded, the channel <-> topic mapping.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "sluice/topic/topic.hpp"
#include "sluice/centrifugo/channel.hpp"
#include "sluice/centrifugo/codec.hpp"

namespace sluice::centrifugo {
namespace {

std::vector<Command> decode_ok(std::string_view text) {
  std::vector<Command> out;
  EXPECT_EQ(decode_commands(text, out), "") << text;
  return out;
}

TEST(CentrifugoCodec, SeveralCommandsPerMessageSeparatedByNewlines) {
  auto commands = decode_ok(
      "{\"id\":1,\"connect\":{\"token\":\"t\",\"name\":\"js\"}}\n"
      "{\"id\":2,\"subscribe\":{\"channel\":\"chat:index\",\"recover\":true,\"offset\":17,\"epoch\":\"abc\",\"flag\":3}}\n"
      "{}\n");
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(commands[0].id, 1u);
  EXPECT_EQ(commands[0].method, Method::connect);
  EXPECT_EQ(commands[0].token, "t");
  EXPECT_EQ(commands[1].method, Method::subscribe);
  EXPECT_EQ(commands[1].channel, "chat:index");
  EXPECT_TRUE(commands[1].recover);
  EXPECT_EQ(commands[1].offset, 17u);
  EXPECT_EQ(commands[1].epoch, "abc");
  EXPECT_EQ(commands[1].flag, 3u);
  EXPECT_EQ(commands[2].method, Method::pong);
  EXPECT_EQ(commands[2].id, 0u);
}

TEST(CentrifugoCodec, PublishDataIsKeptAsWritten) {
  auto commands = decode_ok("{\"id\":7,\"publish\":{\"channel\":\"a\",\"data\":{\"n\": 1.10, \"big\":123456789012345678901234}}}");
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].method, Method::publish);
  EXPECT_TRUE(commands[0].has_data);
  EXPECT_EQ(commands[0].data, "{\"n\":1.10,\"big\":123456789012345678901234}");
}

TEST(CentrifugoCodec, HistoryFields) {
  auto commands =
      decode_ok("{\"id\":3,\"history\":{\"channel\":\"a\",\"limit\":-1,\"since\":{\"offset\":5,\"epoch\":\"e\"},\"reverse\":true}}");
  ASSERT_EQ(commands.size(), 1u);
  const Command& c = commands[0];
  EXPECT_EQ(c.method, Method::history);
  EXPECT_EQ(c.limit, -1);
  EXPECT_TRUE(c.has_since);
  EXPECT_EQ(c.since_offset, 5u);
  EXPECT_EQ(c.since_epoch, "e");
  EXPECT_TRUE(c.reverse);
}

TEST(CentrifugoCodec, EveryMethodIsRecognised) {
  const std::pair<const char*, Method> cases[] = {
      {"presence", Method::presence}, {"presence_stats", Method::presence_stats}, {"rpc", Method::rpc},
      {"send", Method::send},         {"refresh", Method::refresh},               {"sub_refresh", Method::sub_refresh},
      {"unsubscribe", Method::unsubscribe}, {"ping", Method::ping},              {"frobnicate", Method::unknown}};
  for (const auto& [name, method] : cases) {
    auto commands = decode_ok(std::string("{\"id\":4,\"") + name + "\":{}}");
    ASSERT_EQ(commands.size(), 1u) << name;
    EXPECT_EQ(commands[0].method, method) << name;
  }
}

TEST(CentrifugoCodec, WrongFieldTypesAreAnswerableNotFatal) {
  auto commands = decode_ok("{\"id\":5,\"subscribe\":{\"channel\":7}}");
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_FALSE(commands[0].invalid.empty());
}

TEST(CentrifugoCodec, MalformedMessagesAreRefused) {
  for (const char* bad : {"not json", "[1,2]", "{\"id\":-1,\"connect\":{}}", "{\"id\":\"x\"}", "{\"id\":4294967296}"}) {
    std::vector<Command> out;
    EXPECT_NE(decode_commands(bad, out), "") << bad;
  }
}

TEST(CentrifugoCodec, RepliesAndErrors) {
  EXPECT_EQ(encode_result(3, "publish", "{}"), "{\"id\":3,\"publish\":{}}");
  EXPECT_EQ(encode_error(9, error_code::not_available, "not available"),
            "{\"id\":9,\"error\":{\"code\":108,\"message\":\"not available\"}}");
  EXPECT_EQ(encode_error(9, 100, "x\"y", true), "{\"id\":9,\"error\":{\"code\":100,\"message\":\"x\\\"y\",\"temporary\":true}}");
}

TEST(CentrifugoCodec, PublicationPushIsBuiltOncePerEvent) {
  broker::EventFields f;
  f.id = "evt_1";
  f.topic = "chat%20room";
  f.offset = 42;
  f.epoch = "ep";
  f.type = "msg";
  f.data = "{\"text\":\"hi\"}";
  auto event = broker::make_event(f);
  const auto& frame = pub_frame(*event);
  EXPECT_EQ(frame_payload(*frame),
            "{\"push\":{\"channel\":\"chat room\",\"pub\":{\"data\":{\"text\":\"hi\"},\"offset\":42,\"tags\":{\"type\":\"msg\"}}}}");
  EXPECT_EQ(pub_frame(*event).get(), frame.get());  // the same bytes for every recipient
  auto parsed = boost::json::parse(frame_payload(*frame));
  EXPECT_EQ(parsed.at("push").at("pub").at("offset").as_int64(), 42);
}

TEST(CentrifugoCodec, FramePayloadSkipsEveryHeaderLength) {
  for (std::size_t size : {0u, 5u, 125u, 126u, 65535u, 65536u, 70000u}) {
    const std::string payload(size, 'x');
    EXPECT_EQ(frame_payload(*text_frame(payload)), payload) << size;
  }
}

TEST(CentrifugoCodec, CloseCodesAsCentrifugoClientsReadThem) {
  EXPECT_EQ(centrifugo_close(1001, "").code, 3001);  // shutdown: reconnect
  EXPECT_EQ(centrifugo_close(4008, "").code, 3008);  // slow: reconnect and recover
  EXPECT_EQ(centrifugo_close(4401, "").code, 3500);  // invalid token: terminal
  EXPECT_EQ(centrifugo_close(4403, "").code, 3507);  // permission denied: terminal
  EXPECT_EQ(centrifugo_close(4429, "").code, 3013);  // too many requests: reconnect
  EXPECT_EQ(centrifugo_close(1011, "").code, 3004);  // anything else: server error, reconnect
  EXPECT_EQ(centrifugo_close(3503, "bye").code, 3503);
  EXPECT_EQ(centrifugo_close(3503, "bye").reason, "bye");
}

TEST(CentrifugoChannel, ValidTopicsMapToThemselves) {
  for (const char* channel : {"news", "chat:index", "orders.eu", "$private:x", "user#42", "a/b"}) {
    std::string why;
    auto topic = channel_to_topic(channel, why);
    ASSERT_TRUE(topic) << channel << ": " << why;
    EXPECT_EQ(*topic, channel);
    EXPECT_EQ(topic_to_channel(*topic), channel);
  }
}

TEST(CentrifugoChannel, OtherBytesAreEscapedReversiblyAndNeverWildcards) {
  const std::pair<std::string, std::string> cases[] = {
      {"orders.*", "orders.%2A"}, {"a.>", "a.%3E"},   {"a b", "a%20b"},   {"100%", "100%25"},
      {".a", "%2Ea"},             {"a.", "a%2E"},     {"a..b", "a.%2Eb"}, {"caf\xC3\xA9", "caf%C3%A9"},
      {"x\ny", "x%0Ay"}};
  for (const auto& [channel, expected] : cases) {
    std::string why;
    auto topic = channel_to_topic(channel, why);
    ASSERT_TRUE(topic) << channel << ": " << why;
    EXPECT_EQ(*topic, expected);
    EXPECT_EQ(topic::topic_error(*topic), "");
    EXPECT_FALSE(topic::is_wildcard_pattern(*topic));
    EXPECT_EQ(topic_to_channel(*topic), channel);
  }
}

TEST(CentrifugoChannel, RoundTripsEveryByte) {
  for (int b = 0; b < 256; ++b) {
    const std::string channel = std::string("c") + static_cast<char>(b) + "d";
    std::string why;
    auto topic = channel_to_topic(channel, why);
    ASSERT_TRUE(topic) << b << ": " << why;
    EXPECT_EQ(topic_to_channel(*topic), channel) << b;
  }
}

TEST(CentrifugoChannel, EmptyOrTooLongIsRefused) {
  std::string why;
  EXPECT_FALSE(channel_to_topic("", why));
  EXPECT_FALSE(channel_to_topic(std::string(300, 'a'), why));
  EXPECT_NE(why.find("longer"), std::string::npos) << why;
}

}  // namespace
}  // namespace sluice::centrifugo
