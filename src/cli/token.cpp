// `sluice token --jwt-secret-file PATH --sub NAME --subscribe P... --publish
// P... --ttl 1h`: prints an HS256 connection token (docs/security.md), the
// way Centrifugo's `gentoken` helps its users; with --subscription-channel
// CH, a Centrifugo subscription token for CH (its `gensubtoken`). Exit
// status: 0 printed, 1 the secret file is unusable, 2 bad arguments.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "sluice/auth/token_keys.hpp"
#include "sluice/auth/token_signer.hpp"
#include "sluice/topic/topic.hpp"

namespace sluice::cli {

namespace {

struct TokenOptions {
  std::string secret_file;
  std::string sub;
  std::vector<std::string> subscribe;
  std::vector<std::string> publish;
  std::vector<std::string> channels;
  std::string subscription_channel;
  std::string ttl = "1h";
};

inline constexpr std::int64_t kMaxTtlSeconds = 366LL * 86400;  // a year and a day: longer is a key, not a token

// "90", "90s", "15m", "1h", "7d" -> seconds; 0 if unreadable or not positive.
std::int64_t parse_ttl(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return 0;
  const std::int64_t n = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  const std::int64_t scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  return n * scale;
}

int run(const TokenOptions& o) {
  const std::int64_t ttl = parse_ttl(o.ttl);
  if (ttl <= 0 || ttl > kMaxTtlSeconds) {
    std::fprintf(stderr, "sluice token: --ttl wants a duration like 90s, 15m, 1h or 7d, at most 366d (got '%s')\n",
                 o.ttl.c_str());
    return 2;
  }
  for (const auto* list : {&o.subscribe, &o.publish}) {
    for (const auto& p : *list) {
      if (auto why = topic::pattern_error(p); !why.empty()) {
        std::fprintf(stderr, "sluice token: '%s' is not a topic pattern: %s\n", p.c_str(), why.c_str());
        return 2;
      }
    }
  }
  if (!o.subscription_channel.empty() && !(o.subscribe.empty() && o.publish.empty() && o.channels.empty())) {
    std::fprintf(stderr, "sluice token: a subscription token (--subscription-channel) grants nothing else: leave out "
                         "--subscribe, --publish and --channel\n");
    return 2;
  }
  auth::TokenClaims claims;
  claims.sub = o.sub;
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  claims.iat = now;
  claims.exp = now + ttl;
  claims.subscribe = o.subscribe;
  claims.publish = o.publish;
  claims.channels = o.channels;
  claims.channel = o.subscription_channel;
  for (const char c : claims.sub) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      std::fprintf(stderr, "sluice token: --sub may not hold control characters\n");
      return 2;
    }
  }
  if (claims.sub.size() > auth::kMaxSubjectLength) {
    std::fprintf(stderr, "sluice token: --sub is longer than %zu bytes\n", auth::kMaxSubjectLength);
    return 2;
  }
  std::string error;
  const auto secret = auth::read_hs256_secret_file(o.secret_file, error);
  if (!secret) {
    std::fprintf(stderr, "sluice token: %s\n", error.c_str());
    return 1;
  }
  const auto token = auth::sign_hs256_token(*secret, claims, error);
  if (!token) {
    std::fprintf(stderr, "sluice token: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

void add_token_command(CLI::App& app) {
  auto o = std::make_shared<TokenOptions>();
  CLI::App* token = app.add_subcommand("token", "Print an HS256 connection token (JWT) for WebSocket clients");
  token->add_option("--jwt-secret-file", o->secret_file,
                    "The HS256 secret (the file's contents less one trailing newline; at least 32 bytes)")
      ->required();
  token->add_option("--sub", o->sub, "The client's identity (the sub claim), shown in the server's logs")->required();
  token->add_option("--subscribe", o->subscribe, "Topic patterns the client may subscribe to (e.g. 'orders.>')");
  token->add_option("--publish", o->publish, "Topic patterns the client may publish on");
  token->add_option("--channel", o->channels, "Centrifugo channels (the channels claim), for /connection/websocket");
  token->add_option("--subscription-channel", o->subscription_channel,
                    "Print a Centrifugo subscription token for this one channel (the channel claim) instead of a "
                    "connection token");
  token->add_option("--ttl", o->ttl, "How long the token is valid: 90s, 15m, 1h, 7d")->capture_default_str();
  token->callback([o] { std::exit(run(*o)); });
}

}  // namespace sluice::cli
