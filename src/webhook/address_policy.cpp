#include "sluice/webhook/address_policy.hpp"

#include <array>
#include <charconv>

namespace sluice::webhook {
namespace ip = boost::asio::ip;
namespace {

struct V4Range {
  std::uint32_t network;
  unsigned prefix;
  AddressClass what;
};

constexpr std::uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// Special-purpose IPv4 ranges (IANA registry), most specific first where they nest.
constexpr std::array<V4Range, 17> kV4Ranges{{
    {v4(0, 0, 0, 0), 32, AddressClass::unspecified},
    {v4(0, 0, 0, 0), 8, AddressClass::this_network},
    {v4(10, 0, 0, 0), 8, AddressClass::private_use},
    {v4(100, 64, 0, 0), 10, AddressClass::shared},
    {v4(127, 0, 0, 0), 8, AddressClass::loopback},
    {v4(169, 254, 0, 0), 16, AddressClass::link_local},
    {v4(172, 16, 0, 0), 12, AddressClass::private_use},
    {v4(192, 0, 0, 0), 24, AddressClass::reserved},     // IETF protocol assignments
    {v4(192, 0, 2, 0), 24, AddressClass::reserved},     // TEST-NET-1
    {v4(192, 88, 99, 0), 24, AddressClass::reserved},   // deprecated 6to4 relay anycast
    {v4(192, 168, 0, 0), 16, AddressClass::private_use},
    {v4(198, 18, 0, 0), 15, AddressClass::reserved},    // benchmarking
    {v4(198, 51, 100, 0), 24, AddressClass::reserved},  // TEST-NET-2
    {v4(203, 0, 113, 0), 24, AddressClass::reserved},   // TEST-NET-3
    {v4(224, 0, 0, 0), 4, AddressClass::multicast},
    {v4(255, 255, 255, 255), 32, AddressClass::broadcast},
    {v4(240, 0, 0, 0), 4, AddressClass::reserved},      // class E
}};

std::uint32_t v4_mask(unsigned prefix) noexcept {
  return prefix == 0 ? 0u : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

bool in_v4(std::uint32_t address, std::uint32_t network, unsigned prefix) noexcept {
  return (address & v4_mask(prefix)) == (network & v4_mask(prefix));
}

AddressClass classify_v4(const ip::address_v4& a) noexcept {
  const std::uint32_t value = a.to_uint();
  for (const auto& r : kV4Ranges) {
    if (in_v4(value, r.network, r.prefix)) return r.what;
  }
  return AddressClass::global;
}

// True when the first `prefix` bits of `a` and `b` agree.
bool same_prefix(const ip::address_v6::bytes_type& a, const ip::address_v6::bytes_type& b, unsigned prefix) noexcept {
  unsigned i = 0;
  for (; prefix >= 8; prefix -= 8, ++i) {
    if (a[i] != b[i]) return false;
  }
  if (prefix == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - prefix));
  return (a[i] & mask) == (b[i] & mask);
}

AddressClass classify_v6(const ip::address_v6& a) noexcept {
  if (a.is_unspecified()) return AddressClass::unspecified;
  if (a.is_loopback()) return AddressClass::loopback;
  if (auto inner = embedded_ipv4(a)) return classify_v4(*inner);
  const auto b = a.to_bytes();
  if (b[0] == 0xff) return AddressClass::multicast;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::link_local;   // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::private_use;  // fec0::/10 site-local
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::unique_local;                 // fc00::/7
  // The rest of ::/8 (e.g. IPv4-translated) and 64:ff9b:1::/48 (local-use NAT64).
  if (b[0] == 0x00) return AddressClass::reserved;
  if (b[0] == 0x01 && b[1] == 0x00 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0) {
    return AddressClass::reserved;  // 100::/64 discard-only
  }
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return AddressClass::reserved;  // 2001:db8::/32
  return AddressClass::global;
}

}  // namespace

std::string_view to_string(AddressClass c) noexcept {
  switch (c) {
    case AddressClass::global: return "global";
    case AddressClass::unspecified: return "unspecified";
    case AddressClass::this_network: return "this-network";
    case AddressClass::loopback: return "loopback";
    case AddressClass::private_use: return "private";
    case AddressClass::shared: return "shared (carrier-grade NAT)";
    case AddressClass::link_local: return "link-local";
    case AddressClass::unique_local: return "unique-local";
    case AddressClass::multicast: return "multicast";
    case AddressClass::broadcast: return "broadcast";
    case AddressClass::reserved: return "reserved";
  }
  return "reserved";
}

std::optional<ip::address_v4> embedded_ipv4(const ip::address_v6& address) noexcept {
  const auto b = address.to_bytes();
  const auto tail = [&b] { return ip::address_v4(ip::address_v4::bytes_type{b[12], b[13], b[14], b[15]}); };
  if (address.is_v4_mapped()) return tail();
  static constexpr ip::address_v6::bytes_type kNat64{0x00, 0x64, 0xff, 0x9b};
  if (same_prefix(b, kNat64, 96)) return tail();
  static constexpr ip::address_v6::bytes_type kZero{};
  if (same_prefix(b, kZero, 96) && !address.is_unspecified() && !address.is_loopback()) return tail();
  return std::nullopt;
}

AddressClass classify_address(const ip::address& address) noexcept {
  return address.is_v4() ? classify_v4(address.to_v4()) : classify_v6(address.to_v6());
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string& error) {
  const std::string shown(text.substr(0, 64));  // an error never echoes an unbounded input
  const std::size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  if (address_text.find('%') != std::string_view::npos) {
    error = "'" + shown + "' is not a CIDR range: a zone index (%) is not allowed";
    return std::nullopt;
  }
  boost::system::error_code ec;
  const ip::address network = ip::make_address(std::string(address_text), ec);
  if (ec) {
    error = "'" + shown + "' is not a CIDR range (expected e.g. 127.0.0.0/8 or ::1/128)";
    return std::nullopt;
  }
  const unsigned bits = network.is_v4() ? 32 : 128;
  unsigned prefix = bits;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    auto [end, perr] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || perr != std::errc() || end != p.data() + p.size() || prefix > bits) {
      error = "'" + shown + "': the prefix length must be 0 to " + std::to_string(bits);
      return std::nullopt;
    }
  }
  // Host bits set usually means a typo ("10.0.0.1/8"); refuse rather than guess.
  bool host_bits = false;
  if (network.is_v4()) {
    host_bits = (network.to_v4().to_uint() & ~v4_mask(prefix)) != 0;
  } else {
    const auto b = network.to_v6().to_bytes();
    for (unsigned i = prefix; i < 128 && !host_bits; ++i) host_bits = (b[i / 8] & (0x80 >> (i % 8))) != 0;
  }
  if (host_bits) {
    error = "'" + shown + "' has bits set below its /" + std::to_string(prefix) + " prefix";
    return std::nullopt;
  }
  return Cidr{network, prefix};
}

bool Cidr::contains(const ip::address& address) const noexcept {
  if (address.is_v4() != network.is_v4()) return false;
  if (address.is_v4()) return in_v4(address.to_v4().to_uint(), network.to_v4().to_uint(), prefix);
  return same_prefix(address.to_v6().to_bytes(), network.to_v6().to_bytes(), prefix);
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

std::optional<AddressPolicy> AddressPolicy::from_strings(const std::vector<std::string>& allow, std::string& error) {
  std::vector<Cidr> ranges;
  ranges.reserve(allow.size());
  for (const auto& text : allow) {
    auto cidr = Cidr::parse(text, error);
    if (!cidr) return std::nullopt;
    ranges.push_back(*cidr);
  }
  return AddressPolicy(std::move(ranges));
}

bool AddressPolicy::permits(const ip::address& address) const noexcept {
  if (classify_address(address) == AddressClass::global) return true;
  std::optional<ip::address> inner;
  if (address.is_v6()) {
    if (auto v4 = embedded_ipv4(address.to_v6())) inner = ip::address(*v4);
  }
  for (const auto& range : allow_) {
    if (range.contains(address) || (inner && range.contains(*inner))) return true;
  }
  return false;
}

std::string AddressPolicy::refusal(const ip::address& address) const {
  if (permits(address)) return "";
  std::string message = "webhooks may not connect to ";
  message += address.to_string();
  message += " (";
  message += to_string(classify_address(address));
  message += " address; see --webhook-allow)";
  return message;
}

}  // namespace sluice::webhook
