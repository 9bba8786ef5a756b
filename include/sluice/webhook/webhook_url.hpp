// Webhook target URLs: http:// and https:// only, checked when a subscription
// is created so that a plainly unusable or forbidden URL is a clear error then,
// not a dead letter later.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/webhook/address_policy.hpp"

namespace sluice::webhook {

/// Longest webhook URL accepted.
inline constexpr std::size_t kMaxWebhookUrlSize = 2048;

struct WebhookUrl {
  bool secure = false;  ///< https
  std::string host;     ///< lower-case name, or an IP literal without brackets
  std::uint16_t port = 0;
  std::string target = "/";  ///< path and query, as given
  /// Set when the host is an IP literal (then no DNS lookup happens).
  std::optional<boost::asio::ip::address> literal;

  /// The Host header: host ("[...]" for IPv6), plus ":port" unless the scheme's default.
  std::string host_header() const;
  /// "https://host:port": the connection pool's key, and what logs may show
  /// (the path and query may carry a receiver's token, so they are left out).
  std::string origin() const;
};

/// Parses and checks a webhook URL, or returns nullopt with `error` set. The
/// error never repeats the URL (its query may hold a credential). Rules:
/// at most kMaxWebhookUrlSize bytes of printable ASCII (no spaces or control
/// bytes); scheme http or https; a host; no userinfo ("user:pass@"); no
/// fragment; a port 1-65535 if given; a host name of letters, digits, '-',
/// '_' and '.' (IDNs in punycode), and a host that looks numeric must be a
/// canonical dotted-quad IPv4 address (no "127.1" or "0x7f.1" tricks).
/// An IP literal that `policy` refuses, or "localhost" / "*.localhost" while
/// loopback is refused, is an error. Names are resolved later, at connect
/// time, where the policy is checked again on each address. Pure, thread-safe.
std::optional<WebhookUrl> parse_webhook_url(std::string_view url, const AddressPolicy& policy, std::string& error);

}  // namespace sluice::webhook
