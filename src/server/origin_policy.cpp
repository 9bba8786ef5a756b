#include "server/origin_policy.hpp"

#include "sluice/util/ascii.hpp"

namespace sluice::server::detail {

namespace {

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && ascii_iequals(s.substr(s.size() - suffix.size()), suffix);
}

// "scheme://authority" with nothing after the authority (RFC 6454 §6.2).
bool split_origin(std::string_view origin, std::string_view& scheme, std::string_view& authority) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  scheme = origin.substr(0, sep);
  authority = origin.substr(sep + 3);
  return !authority.empty() && authority.find_first_of("/?#@ ") == std::string_view::npos;
}

std::string_view default_port(std::string_view scheme) {
  if (ascii_iequals(scheme, "http") || ascii_iequals(scheme, "ws")) return "80";
  if (ascii_iequals(scheme, "https") || ascii_iequals(scheme, "wss")) return "443";
  return {};
}

bool has_port(std::string_view authority) {
  const auto colon = authority.rfind(':');
  return colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos;
}

}  // namespace

bool origin_listed(std::string_view origin, const std::vector<std::string>& allowed) {
  std::string_view scheme, authority;
  const bool well_formed = split_origin(origin, scheme, authority);
  for (const std::string& entry : allowed) {
    if (entry == "*") return true;
    if (!well_formed) continue;
    const auto star = entry.find("://*.");
    if (star == std::string::npos) {
      if (ascii_iequals(entry, origin)) return true;
      continue;
    }
    // "https://*.example.com": the prefix up to "*", then a label or more, then ".example.com".
    const std::string_view prefix = std::string_view(entry).substr(0, star + 3);
    const std::string_view suffix = std::string_view(entry).substr(star + 4);
    if (origin.size() > prefix.size() + suffix.size() && istarts_with(origin, prefix) && iends_with(origin, suffix)) {
      const auto middle = origin.substr(prefix.size(), origin.size() - prefix.size() - suffix.size());
      if (middle.find_first_of(":/@") == std::string_view::npos) return true;
    }
  }
  return false;
}

bool same_origin(std::string_view origin, std::string_view host) {
  std::string_view scheme, authority;
  if (host.empty() || !split_origin(origin, scheme, authority)) return false;
  if (ascii_iequals(authority, host)) return true;
  const std::string_view port = default_port(scheme);
  if (port.empty()) return false;
  // One side wrote the scheme's default port, the other left it out.
  auto equal_with_default = [&](std::string_view bare, std::string_view ported) {
    return !has_port(bare) && ported.size() == bare.size() + 1 + port.size() && ascii_iequals(ported.substr(0, bare.size()), bare) &&
           ported[bare.size()] == ':' && ported.substr(bare.size() + 1) == port;
  };
  return equal_with_default(authority, host) || equal_with_default(host, authority);
}

bool upgrade_origin_allowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  if (allowed.empty()) return same_origin(origin, host);
  return origin_listed(origin, allowed);
}

}  // namespace sluice::server::detail
