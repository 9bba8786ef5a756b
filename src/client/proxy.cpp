#include "sluice/client/proxy.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace sluice::client {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// "%40" and friends in user:password.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned value = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16).ptr == s.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<ProxyEndpoint> parse_proxy_url(std::string_view url, std::string& error) {
  const std::string original(url);
  url = trim(url);
  if (const auto scheme_end = url.find("://"); scheme_end != std::string_view::npos) {
    const std::string scheme = lower(url.substr(0, scheme_end));
    if (scheme != "http") {
      error = "proxy '" + original + "': only http:// proxies (HTTP CONNECT) are supported";
      return std::nullopt;
    }
    url.remove_prefix(scheme_end + 3);
  }
  url = url.substr(0, url.find('/'));
  ProxyEndpoint out;
  if (const auto at = url.rfind('@'); at != std::string_view::npos) {
    const std::string credentials = percent_decode(url.substr(0, at));
    out.headers.emplace_back("Proxy-Authorization", "Basic " + base64(credentials));
    url.remove_prefix(at + 1);
  }
  std::string_view port_text;
  if (url.starts_with('[')) {
    const auto close = url.find(']');
    if (close == std::string_view::npos) {
      error = "proxy '" + original + "': unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(url.substr(1, close - 1));
    const auto rest = url.substr(close + 1);
    if (rest.starts_with(':')) port_text = rest.substr(1);
  } else {
    const auto colon = url.rfind(':');
    out.host = std::string(url.substr(0, colon));
    if (colon != std::string_view::npos) port_text = url.substr(colon + 1);
  }
  if (out.host.empty()) {
    error = "proxy '" + original + "': no host";
    return std::nullopt;
  }
  out.port = 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      error = "proxy '" + original + "': bad port";
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in, std::uint16_t port) {
  const std::string host = lower(host_in);
  while (!no_proxy.empty()) {
    const auto comma = no_proxy.find(',');
    std::string entry = lower(trim(no_proxy.substr(0, comma)));
    no_proxy = comma == std::string_view::npos ? std::string_view{} : no_proxy.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    // An optional ":port" (not for bracketed or bare IPv6).
    if (const auto colon = entry.rfind(':');
        colon != std::string::npos && entry.find(':') == colon && entry.front() != '[') {
      unsigned entry_port = 0;
      const auto p = std::string_view(entry).substr(colon + 1);
      if (std::from_chars(p.data(), p.data() + p.size(), entry_port).ec != std::errc() || entry_port != port) continue;
      entry.resize(colon);
    }
    if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']') entry = entry.substr(1, entry.size() - 2);
    if (entry.front() == '.') entry.erase(0, 1);
    if (host == entry) return true;
    if (host.size() > entry.size() && host.ends_with(entry) && host[host.size() - entry.size() - 1] == '.') return true;
  }
  return false;
}

std::optional<ProxyEndpoint> select_proxy(const net::WsUrl& url, const ProxyOptions& options, std::string& error,
                                          const GetEnv& getenv) {
  auto with_headers = [&](std::optional<ProxyEndpoint> endpoint) {
    if (endpoint) endpoint->headers.insert(endpoint->headers.end(), options.headers.begin(), options.headers.end());
    return endpoint;
  };
  if (!options.url.empty()) return with_headers(parse_proxy_url(options.url, error));
  if (!options.use_environment) return std::nullopt;
  // Loopback never goes through an environment proxy (as in Go's ProxyFromEnvironment).
  if (url.host == "localhost" || url.host.starts_with("127.") || url.host == "::1") return std::nullopt;
  auto env = [&](const char* name) -> std::string_view {
    const char* value = getenv(name);
    return value ? std::string_view(value) : std::string_view{};
  };
  std::string_view proxy = url.secure ? env("https_proxy") : env("http_proxy");
  if (proxy.empty()) proxy = url.secure ? env("HTTPS_PROXY") : env("HTTP_PROXY");
  if (proxy.empty()) return std::nullopt;
  std::string_view no_proxy = env("no_proxy");
  if (no_proxy.empty()) no_proxy = env("NO_PROXY");
  if (no_proxy_matches(no_proxy, url.host, url.port)) return std::nullopt;
  return with_headers(parse_proxy_url(proxy, error));
}

std::optional<ProxyEndpoint> select_proxy(const net::WsUrl& url, const ProxyOptions& options, std::string& error) {
  return select_proxy(url, options, error, [](const char* name) { return std::getenv(name); });
}

}  // namespace sluice::client
