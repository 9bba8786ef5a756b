// Credentials for a client's connections (SPEC §3 Security, §4): a fixed
// bearer credential (an API key, or a token that outlives the client), or a
// token provider the client asks before every (re)connect and, on Sluice's
// /v1/ws, again before the token expires to refresh it in place.
//
// Both go out as "Authorization: Bearer <credential>" on the upgrade request.
// The client never logs, reports or stores a credential anywhere but in that
// header and in the in-band refresh request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::client {

/// Returns the connection token to use now, or nullopt when there is none.
///
/// Threads: called on the client's own thread, one at a time with every other
/// callback of that client, never with an internal lock held, and never after
/// close() has returned (it is dropped with the client). It may call any
/// public method of the client. It holds up the client's thread while it
/// runs (every callback and all I/O of that client): keep it quick, and
/// fetch a new token ahead of time elsewhere if that is slow.
///
/// Lifetime: a copy lives in the client's options until the client is
/// destroyed; whatever it captures must stay valid that long.
///
/// Returning nullopt (or an empty string), or throwing, when a connection
/// attempt needs a token stops the client for good (Error::no_token, the
/// exception's what() in the description). During an in-band refresh it is
/// only reported (on_error): the connection goes on until the server ends it
/// at the old token's expiry, and the next attempt asks again.
using TokenProvider = std::function<std::optional<std::string>()>;

/// How a token is renewed while a connection is open.
enum class TokenRenewal : std::uint8_t {
  automatic,  ///< in_band for a TopicClient (its /v1/ws speaks it), on_expiry for a raw Client
  /// Sluice's /v1/ws: `refresh_margin` before the token's `exp`, ask the
  /// provider and send {"op":"refresh","id":"sluice-refresh-N","token":...}
  /// on the open connection: no reconnect. The server's answer to it is
  /// consumed by the client (on_message never sees it).
  in_band,
  /// Nothing before `exp` (any server): when the server then ends the
  /// connection with 4401, the provider is asked and the client reconnects.
  on_expiry,
};

/// ClientOptions::auth. Empty (the default): no Authorization header.
struct ClientAuth {
  /// Sent as "Authorization: Bearer <bearer>" on every attempt: an API key,
  /// or a token that lasts as long as the client. Ignored when
  /// `token_provider` is set. A 4401 (or HTTP 401) then stops the client at
  /// once (ReconnectOptions::terminal_close_codes): asking again would give
  /// the same answer.
  std::string bearer;
  /// Asked before every connection attempt; its token goes out as the
  /// bearer. When the server refuses a connection with 4401 (or HTTP 401),
  /// the client asks once more and reconnects after the usual backoff delay;
  /// if that attempt is refused too, before the connection got through (a
  /// message arrived, or it stayed open reconnect.stable_after), the client
  /// stops for good with Error::unauthorized.
  TokenProvider token_provider;
  TokenRenewal renewal = TokenRenewal::automatic;
  /// With in_band renewal: refresh this long before the token's `exp` (read
  /// from the JWT without verifying it; no `exp`, no refresh). A token that
  /// has less than twice this left is refreshed half way to its expiry, and
  /// never sooner than `min_refresh_delay` from now.
  std::chrono::milliseconds refresh_margin{30'000};
  std::chrono::milliseconds min_refresh_delay{1'000};

  /// True when a credential is configured (a bearer or a provider).
  bool enabled() const noexcept { return token_provider || !bearer.empty(); }
};

/// The `exp` claim (seconds since the Unix epoch) of a JWT, read from its
/// base64url payload without verifying anything; nullopt when `token` is not
/// three dot-separated parts whose middle one decodes to a JSON object with
/// a numeric `exp`. Pure, thread-safe, never throws.
std::optional<std::int64_t> token_expiry(std::string_view token) noexcept;

/// How long from `now` until a token expiring at `exp` (Unix seconds)
/// should be refreshed: `margin` before `exp`, or half way to it when less
/// than twice `margin` is left, but never sooner than `min_delay` (also for a
/// token already expired). Pure, thread-safe.
std::chrono::milliseconds refresh_delay(std::int64_t exp, std::chrono::system_clock::time_point now,
                                        std::chrono::milliseconds margin, std::chrono::milliseconds min_delay);

}  // namespace sluice::client
