// Centrifugo's JSON client protocol (centrifugal/protocol, client.proto in its
// JSON form), sans-I/O: text messages in, commands out; replies, pushes and
// frames out. One text message carries one or more JSON objects separated by
// '\n'; a reply echoes its command's `id`; a message without `id` and without
// `push` is a ping (server) or a pong (client). Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/broker/event.hpp"

namespace sluice::centrifugo {

/// Error codes of replies, as Centrifugo's clients read them.
namespace error_code {
inline constexpr int internal = 100;
inline constexpr int unauthorized = 101;
inline constexpr int permission_denied = 103;
inline constexpr int method_not_found = 104;
inline constexpr int already_subscribed = 105;
inline constexpr int limit_exceeded = 106;
inline constexpr int bad_request = 107;
inline constexpr int not_available = 108;
inline constexpr int token_expired = 109;
inline constexpr int unrecoverable_position = 112;
}  // namespace error_code

/// A close code and reason as Centrifugo's clients read them: 3000-3499 and
/// 4000-4499 reconnect, 3500-3999 and 4500-4999 do not.
struct Disconnect {
  std::uint16_t code;
  const char* reason;  ///< a literal
};
namespace disconnect {
inline constexpr Disconnect shutdown{3001, "shutdown"};
inline constexpr Disconnect server_error{3004, "internal server error"};
inline constexpr Disconnect expired{3005, "connection expired"};
inline constexpr Disconnect slow{3008, "slow"};
inline constexpr Disconnect no_pong{3012, "no pong"};
inline constexpr Disconnect too_many_requests{3013, "too many requests"};
inline constexpr Disconnect invalid_token{3500, "invalid token"};
inline constexpr Disconnect bad_request{3501, "bad request"};
inline constexpr Disconnect stale{3502, "stale"};
inline constexpr Disconnect force_no_reconnect{3503, "force disconnect"};
inline constexpr Disconnect permission_denied{3507, "permission denied"};
inline constexpr Disconnect too_many_errors{3509, "too many errors"};
}  // namespace disconnect

/// The Centrifugo close for a close Sluice asks of a connection (shutdown
/// 1001, slow consumer 4008, unauthorized 4401, forbidden 4403, too many
/// 4429, abuse 1008); any other code in 3000-4999 is kept as it is
/// (with `reason`), anything else is a 3004 server error (reconnect).
struct CloseRequest {
  std::uint16_t code;
  std::string reason;
};
CloseRequest centrifugo_close(std::uint16_t sluice_code, std::string_view reason);

enum class Method : std::uint8_t {
  pong,  ///< an empty command: the answer to a server ping
  connect,
  subscribe,
  unsubscribe,
  publish,
  presence,
  presence_stats,
  history,
  ping,
  send,
  rpc,
  refresh,
  sub_refresh,
  unknown,
};

/// One decoded command; which fields are set depends on `method`.
struct Command {
  std::uint32_t id = 0;
  Method method = Method::pong;
  std::string name;     ///< the method's name as sent (for messages)
  std::string channel;  ///< subscribe, unsubscribe, publish, history, presence*, sub_refresh
  std::string token;    ///< connect, refresh, subscribe, sub_refresh
  std::string data;     ///< publish, rpc, send: the `data` JSON as written, minus whitespace
  bool has_data = false;
  // subscribe
  bool recover = false;
  std::uint64_t offset = 0;
  std::string epoch;
  std::uint32_t flag = 0;
  // history
  std::int64_t limit = 0;
  bool has_since = false;
  std::uint64_t since_offset = 0;
  std::string since_epoch;
  bool reverse = false;
  /// Set when the command is well-formed JSON but a field is wrong: answer
  /// it with error 107 bad request (with this message), keep the connection.
  std::string invalid;
};

/// The subscribe flag that asks for error 112 instead of an unrecovered
/// subscription (the SDK's getState mode).
inline constexpr std::uint32_t kRejectUnrecovered = 2;

/// Decodes one text message into `out` (appended). Returns "" or why the
/// message is not this protocol (not JSON, not an object, a bad `id`): the
/// connection is then closed with 3501 bad request.
std::string decode_commands(std::string_view message, std::vector<Command>& out);

/// {"id":ID,"error":{"code":C,"message":M[,"temporary":true]}}
std::string encode_error(std::uint32_t id, int code, std::string_view message, bool temporary = false);
/// {"id":ID,"METHOD":RESULT} (`result` is a JSON object's text).
std::string encode_result(std::uint32_t id, std::string_view method, std::string_view result);
/// Appends {"data":D,"offset":N[,"tags":{"type":..,"key":..}]} for `event`.
void append_publication(std::string& out, const broker::Event& event);
/// {"push":{"channel":C,"pub":{...}}} for `event`, C its topic's channel.
std::string encode_pub_push(const broker::Event& event);
/// {"push":{"channel":C,"unsubscribe":{"code":N,"reason":R}}}
std::string encode_unsubscribe_push(std::string_view channel, int code, std::string_view reason);
/// {"push":{"disconnect":{"code":N,"reason":R}}}
std::string encode_disconnect_push(const CloseRequest& close);

/// A WebSocket text frame (server role, unmasked) carrying `payload`.
std::shared_ptr<const std::string> text_frame(std::string_view payload);
/// The `pub` push frame of `event`: built once per event and shared
/// (Event::centrifugo_frame).
const std::shared_ptr<const std::string>& pub_frame(const broker::Event& event);
/// The payload inside a frame built by text_frame or pub_frame.
std::string_view frame_payload(const std::string& frame) noexcept;

}  // namespace sluice::centrifugo
