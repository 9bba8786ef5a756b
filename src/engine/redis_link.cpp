#include "sluice/engine/redis_link.hpp"

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <mutex>

namespace sluice::engine {

void RedisReplyFree::operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }

std::string_view reply_text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

namespace {

// One command, each argument binary-safe; null when the connection failed.
RedisReply send(redisContext* context, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return RedisReply(static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

}  // namespace

void ignore_broken_pipes() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

std::uint64_t to_u64(std::string_view text) {
  std::uint64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

std::int64_t to_i64(std::string_view text) {
  std::int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

RedisLink::RedisLink(RedisUrl url, std::chrono::milliseconds timeout) : url_(std::move(url)), timeout_(timeout) {}

RedisLink::~RedisLink() { close(); }

void RedisLink::close() {
  if (context_) redisFree(context_);
  context_ = nullptr;
}

void RedisLink::fail(std::string why) {
  error_ = std::move(why);
  close();
}

bool RedisLink::ensure_connected() {
  if (context_) return true;
  ignore_broken_pipes();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  context_ = url_.unix_path.empty() ? redisConnectWithTimeout(url_.host.c_str(), url_.port, tv)
                                    : redisConnectUnixWithTimeout(url_.unix_path.c_str(), tv);  // rediss://: its tunnel
  if (!context_ || context_->err) {
    fail(context_ ? std::string("cannot connect to Redis: ") + context_->errstr : "cannot connect to Redis");
    return false;
  }
  redisSetTimeout(context_, tv);
  // AUTH and SELECT before anything else (the error never repeats the password).
  auto setup = [&](const std::vector<std::string>& args, const char* what) {
    RedisReply r = send(context_, args);
    if (!r) {
      // No answer at all: the connection ended (for rediss://, the tunnel's
      // TLS handshake failed, and its warning says why) or timed out.
      fail(std::string("no answer from Redis to ") + what + ": " +
           (context_->errstr[0] != '\0' ? context_->errstr : "connection lost"));
      return false;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      fail(std::string("Redis refused ") + what + ": " + std::string(reply_text(r.get())));
      return false;
    }
    return true;
  };
  if (!url_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!url_.user.empty()) auth.push_back(url_.user);
    auth.push_back(url_.password);
    if (!setup(auth, "AUTH")) return false;
  }
  if (url_.db != 0 && !setup({"SELECT", std::to_string(url_.db)}, "SELECT")) return false;
  return true;
}

RedisReply RedisLink::command(const std::vector<std::string>& args) {
  const bool kept = context_ != nullptr;
  if (!ensure_connected()) return nullptr;
  RedisReply r = send(context_, args);
  // Closed by the peer (EOF, reset) rather than timed out: the command was not run.
  const bool closed = !r && (context_->err == REDIS_ERR_EOF ||
                             (context_->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE)));
  if (!r && kept && closed) {
    close();
    if (!ensure_connected()) return nullptr;
    r = send(context_, args);
  }
  if (!r) fail(std::string("Redis connection lost: ") + (context_ && context_->errstr[0] ? context_->errstr : "no reply"));
  return r;
}

}  // namespace sluice::engine
