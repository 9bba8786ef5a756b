// The retry policy: classification, Retry-After in its three date forms and
// as seconds, backoff bounds with a seeded RNG, max attempts and max age.
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "sluice/webhook/retry_after.hpp"
#include "sluice/webhook/retry_policy.hpp"

namespace {

using namespace sluice::webhook;
namespace chrono = std::chrono;  // not `using namespace`: unity builds would carry it into the next file
using namespace std::chrono_literals;

// Sun, 06 Nov 1994 08:49:37 GMT
const chrono::system_clock::time_point kNow =
    chrono::sys_days(chrono::year(1994) / chrono::November / 6) + 8h + 49min + 37s;

AttemptOutcome response(unsigned status, std::string retry_after = "") {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::response;
  o.status = status;
  o.retry_after = std::move(retry_after);
  return o;
}

AttemptOutcome failure(AttemptOutcome::Kind kind) {
  AttemptOutcome o;
  o.kind = kind;
  return o;
}

TEST(RetryAfter, DelaySeconds) {
  EXPECT_EQ(parse_retry_after("0", kNow), 0s);
  EXPECT_EQ(parse_retry_after("120", kNow), 120s);
  EXPECT_EQ(parse_retry_after(" 7 ", kNow), 7s);
  EXPECT_EQ(parse_retry_after("99999999999999999999999", kNow), chrono::seconds(100LL * 365 * 24 * 3600));
  EXPECT_FALSE(parse_retry_after("", kNow));
  EXPECT_FALSE(parse_retry_after("-1", kNow));
  EXPECT_FALSE(parse_retry_after("1.5", kNow));
  EXPECT_FALSE(parse_retry_after("10s", kNow));
  EXPECT_FALSE(parse_retry_after("soon", kNow));
}

TEST(RetryAfter, HttpDateInAllThreeForms) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", kNow), 60s);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:51:37 GMT", kNow), 120s);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:52:37 1994", kNow), 180s);
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", kNow), 24h);
  // In the past: retry now (the backoff floor still applies).
  EXPECT_EQ(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", kNow), 0s);
  // A fraction of a second ahead rounds up, never down.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", kNow - 500ms), 2s);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), chrono::sys_seconds(0s));
  EXPECT_FALSE(parse_http_date("Sun Nov  6 08:49:37 1994 "));  // parse_retry_after trims; the date itself is exact
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 23:59:59 GMT"),
            chrono::sys_seconds(chrono::sys_days(chrono::year(2000) / chrono::February / 29) + 23h + 59min + 59s));
  for (const char* bad : {"Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun Nov  6 08:49:37 94",
                          "06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT"}) {
    EXPECT_FALSE(parse_retry_after(bad, kNow)) << bad;
  }
}

TEST(RetryPolicy, ClassifiesOutcomes) {
  for (unsigned s : {200u, 201u, 202u, 204u, 299u}) EXPECT_EQ(classify(response(s), kNow).verdict, Verdict::acknowledged) << s;
  for (unsigned s : {408u, 429u, 500u, 502u, 503u, 504u, 599u}) EXPECT_EQ(classify(response(s), kNow).verdict, Verdict::retry) << s;
  for (unsigned s : {100u, 199u, 300u, 301u, 302u, 307u, 308u, 400u, 401u, 403u, 404u, 405u, 410u, 413u, 422u, 451u, 600u}) {
    const auto c = classify(response(s), kNow);
    EXPECT_EQ(c.verdict, Verdict::park) << s;
    EXPECT_EQ(c.park_reason, DeadLetterReason::rejected) << s;
  }
  EXPECT_EQ(classify(failure(AttemptOutcome::Kind::connection_error), kNow).verdict, Verdict::retry);
  EXPECT_EQ(classify(failure(AttemptOutcome::Kind::timeout), kNow).verdict, Verdict::retry);
  const auto forbidden = classify(failure(AttemptOutcome::Kind::forbidden_address), kNow);
  EXPECT_EQ(forbidden.verdict, Verdict::park);
  EXPECT_EQ(forbidden.park_reason, DeadLetterReason::forbidden_address);
  // Retry-After counts for retryable statuses only.
  EXPECT_EQ(classify(response(429, "30"), kNow).retry_after, 30s);
  EXPECT_EQ(classify(response(503, "Sun, 06 Nov 1994 08:50:37 GMT"), kNow).retry_after, 60s);
  EXPECT_FALSE(classify(response(503, "garbage"), kNow).retry_after);
  EXPECT_FALSE(classify(response(400, "30"), kNow).retry_after);
  EXPECT_FALSE(classify(response(200, "30"), kNow).retry_after);
}

TEST(RetryPolicy, DefaultsAreValidAndOptionsAreChecked) {
  RetryOptions o;
  EXPECT_EQ(o.validate(), "");
  EXPECT_EQ(o.floor, 1s);
  EXPECT_EQ(o.max_attempts, 20u);
  EXPECT_EQ(o.max_age, 24h);
  RetryOptions bad = o;
  bad.floor = 0ms;
  EXPECT_NE(bad.validate(), "");
  bad = o;
  bad.max_delay = 500ms;
  EXPECT_NE(bad.validate(), "");
  bad = o;
  bad.factor = 0.5;
  EXPECT_NE(bad.validate(), "");
  bad.factor = std::numeric_limits<double>::infinity();
  EXPECT_NE(bad.validate(), "");
  bad = o;
  bad.max_attempts = 0;
  EXPECT_NE(bad.validate(), "");
  bad = o;
  bad.max_age = 0ms;
  EXPECT_NE(bad.validate(), "");
}

TEST(RetryPolicy, BackoffIsFullJitterBetweenFloorAndCeiling) {
  RetryOptions o;
  o.floor = 1s;
  o.max_delay = 60s;
  EXPECT_EQ(backoff_ceiling(o, 0), 1s);
  EXPECT_EQ(backoff_ceiling(o, 1), 2s);
  EXPECT_EQ(backoff_ceiling(o, 5), 32s);
  EXPECT_EQ(backoff_ceiling(o, 6), 60s);
  EXPECT_EQ(backoff_ceiling(o, std::numeric_limits<std::uint32_t>::max()), 60s);
  std::mt19937_64 rng(42);
  for (std::uint32_t retry = 1; retry < 40; ++retry) {
    std::set<chrono::milliseconds::rep> seen;
    for (int i = 0; i < 200; ++i) {
      const auto d = backoff_delay(o, retry, rng);
      ASSERT_GE(d, o.floor);
      ASSERT_LE(d, backoff_ceiling(o, retry));
      seen.insert(d.count());
    }
    EXPECT_GT(seen.size(), 50u) << "jitter spreads the delays, retry " << retry;
  }
  // Seeded: reproducible.
  std::mt19937_64 a(7), b(7);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(backoff_delay(o, 3, a), backoff_delay(o, 3, b));
}

TEST(RetryPolicy, DecidesDoneRetryOrDeadLetter) {
  RetryOptions o;
  o.floor = 1s;
  o.max_delay = 60s;
  o.max_attempts = 5;
  o.max_age = 1h;
  o.max_retry_after = 10min;
  std::mt19937_64 rng(1);

  EXPECT_EQ(decide(o, classify(response(204), kNow), 1, 0ms, rng).action, RetryDecision::Action::done);

  const auto parked = decide(o, classify(response(404), kNow), 1, 0ms, rng);
  EXPECT_EQ(parked.action, RetryDecision::Action::dead_letter);
  EXPECT_EQ(parked.reason, DeadLetterReason::rejected);
  EXPECT_EQ(to_string(parked.reason), "rejected");

  const auto forbidden = decide(o, classify(failure(AttemptOutcome::Kind::forbidden_address), kNow), 1, 0ms, rng);
  EXPECT_EQ(forbidden.action, RetryDecision::Action::dead_letter);
  EXPECT_EQ(to_string(forbidden.reason), "forbidden_address");

  for (std::uint32_t attempt = 1; attempt < 5; ++attempt) {
    const auto d = decide(o, classify(response(500), kNow), attempt, 0ms, rng);
    ASSERT_EQ(d.action, RetryDecision::Action::retry) << attempt;
    EXPECT_GE(d.delay, 1s);
    EXPECT_LE(d.delay, backoff_ceiling(o, attempt));
  }
  const auto last = decide(o, classify(failure(AttemptOutcome::Kind::timeout), kNow), 5, 0ms, rng);
  EXPECT_EQ(last.action, RetryDecision::Action::dead_letter);
  EXPECT_EQ(last.reason, DeadLetterReason::max_attempts);

  // Retry-After beyond the backoff is honoured, up to max_retry_after.
  const auto asked = decide(o, classify(response(429, "300"), kNow), 1, 0ms, rng);
  EXPECT_EQ(asked.action, RetryDecision::Action::retry);
  EXPECT_EQ(asked.delay, 300s);
  const auto capped = decide(o, classify(response(503, "86400"), kNow), 1, 0ms, rng);
  EXPECT_EQ(capped.delay, 10min);
  // A small Retry-After does not undercut the backoff floor.
  const auto small = decide(o, classify(response(429, "0"), kNow), 1, 0ms, rng);
  EXPECT_GE(small.delay, 1s);

  // The next attempt would start after max_age: dead letter now.
  const auto old = decide(o, classify(response(503, "300"), kNow), 2, 1h - 299s, rng);
  EXPECT_EQ(old.action, RetryDecision::Action::dead_letter);
  EXPECT_EQ(old.reason, DeadLetterReason::max_age);
  const auto young = decide(o, classify(response(503, "300"), kNow), 2, 1h - 300s, rng);
  EXPECT_EQ(young.action, RetryDecision::Action::retry);
}

TEST(RetryPolicy, OneAttemptOnlyMeansNoRetry) {
  RetryOptions o;
  o.max_attempts = 1;
  std::mt19937_64 rng(3);
  EXPECT_EQ(decide(o, classify(response(500), kNow), 1, 0ms, rng).action, RetryDecision::Action::dead_letter);
}

}  // namespace
