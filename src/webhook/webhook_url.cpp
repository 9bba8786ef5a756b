#include "sluice/webhook/webhook_url.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::webhook {
namespace ip = boost::asio::ip;
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// A label that a resolver may read as a number: "127", "0x7f", "017".
bool numeric_label(std::string_view label) noexcept {
  if (label.starts_with("0x")) return true;
  return !label.empty() && std::all_of(label.begin(), label.end(), is_digit);
}

// Checks a DNS host name (already lower-case); "" when fine.
std::string check_host_name(std::string_view host) {
  if (host.size() > 253) return "the webhook URL's host name is longer than 253 characters";
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = host.find('.', start);
    const std::string_view label = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
    if (label.empty()) return "the webhook URL's host name has an empty label (\"..\" or a leading/trailing dot)";
    if (label.size() > 63) return "the webhook URL's host name has a label longer than 63 characters";
    for (const char c : label) {
      if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_')) {
        return "the webhook URL's host name may contain only letters, digits, '-', '_' and '.' "
               "(write international names in punycode)";
      }
    }
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

// The host and port of a webhook URL's authority (after the scheme, before the
// path) into `out`; "" when fine, else why not.
std::string read_authority(std::string_view authority, WebhookUrl& out) {
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "the webhook URL's IPv6 address lacks its closing ']'";
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "the webhook URL has text after its IPv6 address";
      has_port = true;
      port_text = rest.substr(1);
    }
    if (host.find('%') != std::string_view::npos) return "the webhook URL's IPv6 address must not have a zone (%)";
    boost::system::error_code ec;
    const ip::address_v6 a = ip::make_address_v6(std::string(host), ec);
    if (ec) return "the webhook URL's host is not a valid IPv6 address";
    out.literal = ip::address(a);
    out.host = a.to_string();
  } else {
    const std::size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    out.host.reserve(host.size());
    for (const char c : host) out.host += lower(c);
  }
  if (out.host.empty()) return "the webhook URL has no host";

  out.port = out.secure ? 443 : 80;
  if (has_port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return "the webhook URL's port must be a number from 1 to 65535";
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return "";
}

// A numeric host name becomes its IPv4 literal; then `policy` decides on the
// host. "" when fine, else why not.
std::string check_host(WebhookUrl& out, const AddressPolicy& policy) {
  if (!out.literal) {
    if (std::string e = check_host_name(out.host); !e.empty()) return e;
    const std::string_view last_label = std::string_view(out.host).substr(out.host.rfind('.') + 1);
    if (numeric_label(last_label)) {
      // inet_pton: exactly four decimal parts; resolvers' looser forms are refused here.
      boost::system::error_code ec;
      const ip::address_v4 a = ip::make_address_v4(out.host, ec);
      if (ec) return "the webhook URL's host looks numeric but is not a dotted-quad IPv4 address";
      out.literal = ip::address(a);
      out.host = a.to_string();
    }
  }

  if (out.literal) {
    if (std::string refused = policy.refusal(*out.literal); !refused.empty()) {
      return "the webhook URL's host is refused: " + refused;
    }
  } else if (out.host == "localhost" || out.host.ends_with(".localhost")) {
    // RFC 6761: these names always mean the loopback interface.
    const ip::address loopback = ip::make_address_v4("127.0.0.1");
    if (!policy.permits(loopback)) {
      return "the webhook URL's host is refused: " + policy.refusal(loopback);
    }
  }
  return "";
}

}  // namespace

std::string WebhookUrl::host_header() const {
  std::string h;
  if (literal && literal->is_v6()) {
    h.append(1, '[').append(host).append(1, ']');
  } else {
    h = host;
  }
  if (port != (secure ? 443 : 80)) h.append(1, ':').append(std::to_string(port));
  return h;
}

std::string WebhookUrl::origin() const {
  std::string o = secure ? "https://" : "http://";
  if (literal && literal->is_v6()) {
    o.append(1, '[').append(host).append(1, ']');
  } else {
    o += host;
  }
  o.append(1, ':').append(std::to_string(port));
  return o;
}

std::optional<WebhookUrl> parse_webhook_url(std::string_view url, const AddressPolicy& policy, std::string& error) {
  const auto fail = [&error](std::string message) {
    error = std::move(message);
    return std::nullopt;
  };
  if (url.empty()) return fail("the webhook URL is empty");
  if (url.size() > kMaxWebhookUrlSize) {
    return fail("the webhook URL is longer than " + std::to_string(kMaxWebhookUrlSize) + " bytes");
  }
  for (const char c : url) {
    const auto u = static_cast<unsigned char>(c);
    // Spaces and control bytes would split the request line (CR/LF: header injection).
    if (u <= 0x20 || u >= 0x7f) {
      return fail("the webhook URL may contain only printable ASCII without spaces (percent-encode the rest)");
    }
  }
  WebhookUrl out;
  if (starts_with_nocase(url, "https://")) {
    out.secure = true;
    url.remove_prefix(8);
  } else if (starts_with_nocase(url, "http://")) {
    url.remove_prefix(7);
  } else {
    return fail("the webhook URL must start with http:// or https://");
  }
  if (url.find('#') != std::string_view::npos) return fail("the webhook URL must not have a #fragment");

  const std::size_t path_start = url.find_first_of("/?");
  const std::string_view authority = url.substr(0, path_start);
  if (path_start != std::string_view::npos) {
    out.target = std::string(url.substr(path_start));
    if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos) {
    return fail("the webhook URL must not contain user information (user:password@)");
  }

  if (std::string e = read_authority(authority, out); !e.empty()) return fail(std::move(e));
  if (std::string e = check_host(out, policy); !e.empty()) return fail(std::move(e));
  return out;
}

}  // namespace sluice::webhook
