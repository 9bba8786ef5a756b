#include "sluice/server/http_types.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "sluice/util/ascii.hpp"

namespace sluice::server {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}
}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (ascii_iequals(n, name)) return v;
  }
  return {};
}

bool HttpRequest::query_param(std::string_view name, std::string& value) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == name) {
      value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
      return true;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return false;
}

std::vector<std::string> HttpRequest::query_names() const {
  std::vector<std::string> names;
  std::string_view rest = query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (!pair.empty()) names.push_back(percent_decode(pair.substr(0, pair.find('='))));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return names;
}

HttpResponse HttpResponse::error(unsigned status, std::string_view code, std::string_view message) {
  return json(status, "{\"error\":" + boost::json::serialize(boost::json::string(code)) +
                          ",\"message\":" + boost::json::serialize(boost::json::string(message)) + "}");
}

HttpResponse HttpResponse::json(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace sluice::server
