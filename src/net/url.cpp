#include "sluice/net/url.hpp"

#include <charconv>

#include "sluice/protocol/handshake.hpp"

namespace sluice::net {

std::string WsUrl::host_header() const {
  // Appends rather than operator+: GCC 12 at -O3 warns falsely (-Wrestrict) on "[" + host + "]".
  std::string h;
  if (host.find(':') != std::string::npos) {
    h.append(1, '[').append(host).append(1, ']');
  } else {
    h = host;
  }
  if (port != (secure ? 443 : 80)) h.append(1, ':').append(std::to_string(port));
  return h;
}

std::optional<WsUrl> parse_ws_url(std::string_view url) {
  WsUrl out;
  // Spaces and control bytes have no place in a URL; in the request line
  // they would split it (CR/LF: header injection).
  if (protocol::has_space_or_control(url)) return std::nullopt;
  if (url.find('#') != std::string_view::npos) return std::nullopt;  // RFC 6455 §3: no fragment
  if (url.starts_with("ws://")) {
    url.remove_prefix(5);
  } else if (url.starts_with("wss://")) {
    out.secure = true;
    url.remove_prefix(6);
  } else {
    return std::nullopt;
  }
  const std::size_t path_start = url.find_first_of("/?");
  std::string_view authority = url.substr(0, path_start);
  out.target = path_start == std::string_view::npos ? "/" : std::string(url.substr(path_start));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo

  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return std::nullopt;
  out.port = out.secure ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

}  // namespace sluice::net
