#include "sluice/webhook/retry_after.hpp"

#include <array>
#include <charconv>

namespace sluice::webhook {
namespace {

// Qualified, not `using namespace`: in a unity build that would reach the other files.
namespace chrono = std::chrono;

constexpr std::int64_t kMaxSeconds = 100LL * 365 * 24 * 3600;  // beyond this, "forever" is as good

constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kShortDays{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays{"Monday", "Tuesday", "Wednesday", "Thursday",
                                                     "Friday", "Saturday", "Sunday"};

// Reads exactly `digits` decimal digits from the front of `s` (a leading
// space counts as a zero when `space_pad`, for asctime's " 6").
std::optional<int> take_number(std::string_view& s, std::size_t digits, bool space_pad = false) {
  if (s.size() < digits) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = s[i];
    if (c == ' ' && space_pad && i == 0) continue;
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  s.remove_prefix(digits);
  return value;
}

bool take(std::string_view& s, std::string_view literal) {
  if (!s.starts_with(literal)) return false;
  s.remove_prefix(literal.size());
  return true;
}

std::optional<int> take_month(std::string_view& s) {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (take(s, kMonths[i])) return static_cast<int>(i) + 1;
  }
  return std::nullopt;
}

template <std::size_t N>
bool take_any(std::string_view& s, const std::array<std::string_view, N>& words) {
  for (const auto w : words) {
    if (take(s, w)) return true;
  }
  return false;
}

// "HH:MM:SS"
std::optional<chrono::seconds> take_time(std::string_view& s) {
  const auto h = take_number(s, 2);
  if (!h || !take(s, ":")) return std::nullopt;
  const auto m = take_number(s, 2);
  if (!m || !take(s, ":")) return std::nullopt;
  const auto sec = take_number(s, 2);
  if (!sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;  // 60: a leap second
  return chrono::hours(*h) + chrono::minutes(*m) + chrono::seconds(*sec);
}

std::optional<chrono::sys_seconds> make_instant(int y, int mo, int d, chrono::seconds time_of_day) {
  const chrono::year_month_day date{chrono::year(y), chrono::month(static_cast<unsigned>(mo)),
                                    chrono::day(static_cast<unsigned>(d))};
  if (!date.ok()) return std::nullopt;
  return chrono::sys_seconds(chrono::sys_days(date).time_since_epoch()) + time_of_day;
}

}  // namespace

std::optional<chrono::sys_seconds> parse_http_date(std::string_view s) {
  std::string_view t = s;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (take_any(t, kShortDays) && take(t, ", ")) {
    const auto d = take_number(t, 2);
    if (!d || !take(t, " ")) return std::nullopt;
    const auto mo = take_month(t);
    if (!mo || !take(t, " ")) return std::nullopt;
    const auto y = take_number(t, 4);
    if (!y || !take(t, " ")) return std::nullopt;
    const auto time = take_time(t);
    if (!time || t != " GMT") return std::nullopt;
    return make_instant(*y, *mo, *d, *time);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  t = s;
  if (take_any(t, kLongDays) && take(t, ", ")) {
    const auto d = take_number(t, 2);
    if (!d || !take(t, "-")) return std::nullopt;
    const auto mo = take_month(t);
    if (!mo || !take(t, "-")) return std::nullopt;
    const auto yy = take_number(t, 2);
    if (!yy || !take(t, " ")) return std::nullopt;
    const auto time = take_time(t);
    if (!time || t != " GMT") return std::nullopt;
    // RFC 9110: a two-digit year more than 50 years ahead means the past century.
    const auto today = chrono::floor<chrono::days>(chrono::system_clock::now());
    const int this_year = static_cast<int>(chrono::year_month_day(today).year());
    int y = this_year / 100 * 100 + *yy;
    if (y > this_year + 50) y -= 100;
    return make_instant(y, *mo, *d, *time);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  t = s;
  if (take_any(t, kShortDays) && take(t, " ")) {
    const auto mo = take_month(t);
    if (!mo || !take(t, " ")) return std::nullopt;
    const auto d = take_number(t, 2, true);
    if (!d || !take(t, " ")) return std::nullopt;
    const auto time = take_time(t);
    if (!time || !take(t, " ")) return std::nullopt;
    const auto y = take_number(t, 4);
    if (!y || !t.empty()) return std::nullopt;
    return make_instant(*y, *mo, *d, *time);
  }
  return std::nullopt;
}

std::optional<chrono::seconds> parse_retry_after(std::string_view value, chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (end != value.data() + value.size()) return std::nullopt;
    if (ec == std::errc::result_out_of_range || n > static_cast<std::uint64_t>(kMaxSeconds)) {
      return chrono::seconds(kMaxSeconds);
    }
    if (ec != std::errc()) return std::nullopt;
    return chrono::seconds(static_cast<std::int64_t>(n));
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  const auto wait = chrono::ceil<chrono::seconds>(*when - now);  // rounds up: never earlier than asked
  if (wait <= chrono::seconds(0)) return chrono::seconds(0);
  return std::min(wait, chrono::seconds(kMaxSeconds));
}

}  // namespace sluice::webhook
