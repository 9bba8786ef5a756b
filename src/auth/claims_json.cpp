#include "claims_json.hpp"

#include <cmath>

#include "sluice/topic/topic.hpp"

namespace sluice::auth::detail {
namespace json = boost::json;

namespace {

// NumericDate (RFC 7519 §2): seconds, possibly fractional. `round_up` for
// nbf, down for exp: a fraction never extends a token's validity.
// Dates beyond ±1e15 s (~31 million years) are a mistake or an attack, and would overflow `exp + leeway`.
constexpr std::int64_t kMaxDate = 1'000'000'000'000'000;

bool numeric_date(const json::value& v, bool round_up, std::int64_t& out) {
  if (v.is_int64()) {
    out = v.get_int64();
    return out >= -kMaxDate && out <= kMaxDate;
  }
  if (!v.is_double()) return false;  // a string, or an integer beyond int64
  const double d = round_up ? std::ceil(v.get_double()) : std::floor(v.get_double());
  if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(kMaxDate)) return false;
  out = static_cast<std::int64_t>(d);
  return true;
}

// A subject is logged: no control characters that could forge log lines.
bool printable(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool string_array(const json::object& payload, std::string_view name, bool patterns, std::vector<std::string>& out,
                  std::string& why) {
  const auto* v = payload.if_contains(name);
  if (!v) return true;
  const auto* array = v->if_array();
  if (!array) {
    why = std::string(name) + " is not an array";
    return false;
  }
  if (array->size() > kMaxTokenPatterns) {
    why = std::string(name) + " has more than " + std::to_string(kMaxTokenPatterns) + " entries";
    return false;
  }
  for (const auto& item : *array) {
    const auto* s = item.if_string();
    if (!s) {
      why = std::string(name) + " holds a value that is not a string";
      return false;
    }
    if (patterns && !topic::pattern_error(*s).empty()) {
      why = std::string(name) + " holds an invalid topic pattern";
      return false;
    }
    out.emplace_back(*s);
  }
  return true;
}

}  // namespace

bool claims_from_json(const json::object& payload, TokenClaims& claims, std::string& why) {
  const auto* exp = payload.if_contains("exp");
  if (!exp) {
    why = "no exp (tokens must expire)";
    return false;
  }
  if (!numeric_date(*exp, false, claims.exp)) {
    why = "exp is not a date in seconds";
    return false;
  }
  for (const auto& [name, target] : {std::pair{"nbf", &claims.nbf}, std::pair{"iat", &claims.iat}}) {
    if (const auto* v = payload.if_contains(name)) {
      std::int64_t seconds = 0;
      if (!numeric_date(*v, true, seconds)) {
        why = std::string(name) + " is not a date in seconds";
        return false;
      }
      *target = seconds;
    }
  }
  if (const auto* sub = payload.if_contains("sub")) {
    const auto* s = sub->if_string();
    if (!s) {
      why = "sub is not a string";
      return false;
    }
    if (s->size() > kMaxSubjectLength || !printable(*s)) {
      why = "sub is too long or holds control characters";
      return false;
    }
    claims.sub = std::string(*s);
  }
  if (const auto* channel = payload.if_contains("channel")) {
    const auto* s = channel->if_string();
    if (!s || s->empty()) {
      why = "channel is not a non-empty string";
      return false;
    }
    claims.channel = std::string(*s);
  }
  return string_array(payload, "subscribe", true, claims.subscribe, why) &&
         string_array(payload, "publish", true, claims.publish, why) &&
         string_array(payload, "channels", false, claims.channels, why);
}

json::object claims_to_json(const TokenClaims& claims) {
  json::object o;
  if (!claims.sub.empty()) o["sub"] = claims.sub;
  o["exp"] = claims.exp;
  if (claims.nbf) o["nbf"] = *claims.nbf;
  if (claims.iat) o["iat"] = *claims.iat;
  auto array = [](const std::vector<std::string>& items) {
    json::array a;
    for (const auto& s : items) a.emplace_back(s);
    return a;
  };
  o["subscribe"] = array(claims.subscribe);
  o["publish"] = array(claims.publish);
  if (!claims.channels.empty()) o["channels"] = array(claims.channels);
  if (!claims.channel.empty()) o["channel"] = claims.channel;
  return o;
}

}  // namespace sluice::auth::detail
