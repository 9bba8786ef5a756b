// The SSRF guard (issue #14): which IP addresses a webhook may connect to.
//
// By default every address that reaches the machine itself or a private
// network is refused: loopback, private (RFC 1918), shared/CGNAT (100.64/10),
// link-local (169.254/16, incl. the cloud metadata 169.254.169.254, fe80::/10),
// unique-local fc00::/7, site-local fec0::/10, multicast, unspecified,
// "this network" 0/8, broadcast and other reserved or documentation ranges.
// IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d) are judged by that IPv4
// address. An allowlist of CIDR ranges opens exceptions (tests allow
// 127.0.0.0/8). The check is meant for the address actually connected to,
// after DNS resolution, so a name that resolves (or rebinds) to a refused
// address gains nothing.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::webhook {

/// Why an address is refused, or `global` when it is an ordinary public one.
enum class AddressClass {
  global,
  unspecified,   ///< 0.0.0.0, ::
  this_network,  ///< 0.0.0.0/8
  loopback,      ///< 127.0.0.0/8, ::1
  private_use,   ///< 10/8, 172.16/12, 192.168/16, fec0::/10
  shared,        ///< 100.64.0.0/10 (carrier-grade NAT)
  link_local,    ///< 169.254/16, fe80::/10
  unique_local,  ///< fc00::/7
  multicast,     ///< 224/4, ff00::/8
  broadcast,     ///< 255.255.255.255
  reserved,      ///< 240/4, 192.0.0/24, 198.18/15, documentation ranges, 100::/64, 2001:db8::/32
};

/// A short lower-case name ("loopback", "link-local", ...), for error messages.
std::string_view to_string(AddressClass c) noexcept;

/// What `address` is, judging IPv4-mapped, IPv4-compatible and NAT64 IPv6
/// addresses by the IPv4 address they carry. Pure, thread-safe.
AddressClass classify_address(const boost::asio::ip::address& address) noexcept;

/// The IPv4 address an IPv6 address carries (mapped ::ffff:0:0/96, compatible
/// ::/96 other than :: and ::1, NAT64 64:ff9b::/96), or nullopt. Pure.
std::optional<boost::asio::ip::address_v4> embedded_ipv4(const boost::asio::ip::address_v6& address) noexcept;

/// An address range: "10.0.0.0/8", "::1/128"; a bare address means a single
/// host (/32 or /128). Host bits below the prefix must be zero.
struct Cidr {
  boost::asio::ip::address network;
  unsigned prefix = 0;

  /// Parses `text`, or nullopt with `error` set. Pure, thread-safe.
  static std::optional<Cidr> parse(std::string_view text, std::string& error);
  /// True when `address` is in the range (same family only). Pure.
  bool contains(const boost::asio::ip::address& address) const noexcept;
  /// Back to text, e.g. "127.0.0.0/8".
  std::string to_string() const;
};

/// The guard: refused classes minus the allowlist. Immutable after set-up;
/// const members are thread-safe.
class AddressPolicy {
 public:
  AddressPolicy() = default;  ///< refuses every non-global address
  explicit AddressPolicy(std::vector<Cidr> allow) : allow_(std::move(allow)) {}

  /// Parses each CIDR of `allow` ("--webhook-allow" values); nullopt and
  /// `error` naming the bad one on failure.
  static std::optional<AddressPolicy> from_strings(const std::vector<std::string>& allow, std::string& error);

  /// True when a webhook may connect to `address`: it is global, or it (or the
  /// IPv4 address it carries) is inside an allowed range. Pure, noexcept.
  bool permits(const boost::asio::ip::address& address) const noexcept;

  /// "" when permitted, else a message such as "webhooks may not connect to
  /// 127.0.0.1 (loopback address; see --webhook-allow)".
  std::string refusal(const boost::asio::ip::address& address) const;

  const std::vector<Cidr>& allowlist() const noexcept { return allow_; }

 private:
  std::vector<Cidr> allow_;
};

}  // namespace sluice::webhook
