// A Redis shard's connections: connect, reconnect with backoff, set-up
// (AUTH, SELECT, SCRIPT LOAD, PSUBSCRIBE), the PING watchdog, and stop.

#include "engine/redis_shard.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <future>

#include "engine/hiredis_asio.hpp"

namespace sluice::engine::detail {

void RedisShard::watch() {
  watchdog.expires_after(std::chrono::seconds(1));
  watchdog.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping) return;
    if (command.context) {
      if (!ping_outstanding) {
        ping_outstanding = true;
        ping_sent = std::chrono::steady_clock::now();
        redisAsyncCommand(command.context, on_ping, this, "PING");
      } else if (std::chrono::steady_clock::now() - ping_sent > settings.command_timeout) {
        warn("redis command: no answer for " + std::to_string(settings.command_timeout.count()) +
             " ms; reconnecting");
        drop(command);
      }
    }
    watch();
  });
}

void RedisShard::on_ping(redisAsyncContext*, void*, void* data) {
  static_cast<RedisShard*>(data)->ping_outstanding = false;
}

void RedisShard::drop(Link& link) {
  redisAsyncContext* c = link.context;
  if (!c) return;
  c->onDisconnect = nullptr;
  mark_down(link);  // before the failed publishes are answered: whoever got a 503 then sees /ready 503
  redisAsyncFree(c);
  if (!stopping) reconnect_later(link);
}

void RedisShard::mark_down(Link& link) {
  link.context = nullptr;
  link.connected = false;
  ready = false;
  if (&link == &subscriber) subscribed = false;
  if (&link == &command) {
    script_sha.clear();
    ping_outstanding = false;
  }
}

void RedisShard::lost(Link& link) {
  mark_down(link);
  if (!stopping) reconnect_later(link);
}

void RedisShard::connect(Link& link) {
  if (stopping) return;
  ignore_broken_pipes();
  redisAsyncContext* c = url.unix_path.empty() ? redisAsyncConnect(url.host.c_str(), url.port)
                                               : redisAsyncConnectUnix(url.unix_path.c_str());  // rediss://: its tunnel
  if (!c || c->err) {
    warn(std::string("redis ") + link.name + ": cannot connect: " + (c ? c->errstr : "out of memory"));
    if (c) redisAsyncFree(c);
    return reconnect_later(link);
  }
  c->data = &link;
  detail::attach_to_asio(c, io);
  redisAsyncSetConnectCallback(c, on_connect);
  redisAsyncSetDisconnectCallback(c, on_disconnect);
  link.context = c;
}

void RedisShard::reconnect_later(Link& link) {
  if (stopping) return;
  const unsigned shift = std::min(link.attempt++, 16u);
  auto delay = std::min(settings.backoff_max, settings.backoff_min * (1u << shift));
  const auto half = delay.count() / 2;
  delay = std::chrono::milliseconds(half + static_cast<long>(random() % static_cast<std::uint64_t>(half + 1)));
  link.timer.expires_after(std::max(delay, std::chrono::milliseconds(1)));
  link.timer.async_wait([this, &link](boost::system::error_code ec) {
    if (!ec) connect(link);
  });
}

void RedisShard::on_connect(const redisAsyncContext* c, int status) {
  auto& link = *static_cast<Link*>(c->data);
  if (status != REDIS_OK) {
    warn(std::string("redis ") + link.name + ": cannot connect: " + c->errstr);
    link.context = nullptr;  // hiredis frees it
    return link.shard->reconnect_later(link);
  }
  link.shard->set_up(link);
}

void RedisShard::on_disconnect(const redisAsyncContext* c, int status) {
  auto& link = *static_cast<Link*>(c->data);
  RedisShard& shard = *link.shard;
  if (!shard.stopping) {
    warn(std::string("redis ") + link.name + ": connection lost" +
         (status == REDIS_OK ? std::string() : std::string(": ") + c->errstr) + "; reconnecting");
  }
  shard.lost(link);
}

void RedisShard::set_up(Link& link) {
  auto* c = link.context;
  if (!url.password.empty()) {
    if (url.user.empty()) {
      redisAsyncCommand(c, on_setup_reply, &link, "AUTH %b", url.password.data(), url.password.size());
    } else {
      redisAsyncCommand(c, on_setup_reply, &link, "AUTH %b %b", url.user.data(), url.user.size(),
                        url.password.data(), url.password.size());
    }
  }
  if (&link == &command) {
    if (url.db != 0) redisAsyncCommand(c, on_setup_reply, &link, "SELECT %u", url.db);
    redisAsyncCommand(c, on_script_loaded, &link, "SCRIPT LOAD %b", detail::kAppendScript.data(),
                      detail::kAppendScript.size());
  } else {
    const std::string pattern = keys.channel_prefix() + "*";
    redisAsyncCommand(c, on_message, &link, "PSUBSCRIBE %b", pattern.data(), pattern.size());
    if (!watched_channel.empty()) {
      redisAsyncCommand(c, on_message, &link, "SUBSCRIBE %b", watched_channel.data(), watched_channel.size());
    }
  }
}

void RedisShard::on_setup_reply(redisAsyncContext* c, void* r, void*) {
  auto* reply = static_cast<redisReply*>(r);
  if (!reply || reply->type != REDIS_REPLY_ERROR) return;
  // The message may not contain the password (Redis never echoes it).
  warn("redis: set-up refused: " + std::string(reply_text(reply)));
  redisAsyncDisconnect(c);
}

void RedisShard::on_script_loaded(redisAsyncContext* c, void* r, void* data) {
  auto& link = *static_cast<Link*>(data);
  auto* reply = static_cast<redisReply*>(r);
  if (!reply) return;
  if (reply->type != REDIS_REPLY_STRING) {
    // E.g. LOADING after a restart: without the script this node can never
    // be ready, so start over (with backoff) rather than wait forever.
    warn("redis: SCRIPT LOAD failed: " + std::string(reply_text(reply)) + "; reconnecting");
    redisAsyncDisconnect(c);
    return;
  }
  link.shard->script_sha.assign(reply->str, reply->len);
  link.connected = true;
  link.attempt = 0;
  link.shard->maybe_catch_up();
}

void RedisShard::stop() {
  if (!started || !thread.joinable()) return;
  // Pending replies are answered, then the connections close (redisAsyncDisconnect).
  boost::asio::post(io, [this] {
    stopping = true;
    ready = false;
    watchdog.cancel();
    trim_timer.cancel();
    command.timer.cancel();
    subscriber.timer.cancel();
    if (command.context) redisAsyncDisconnect(command.context);
    if (subscriber.context) redisAsyncDisconnect(subscriber.context);
  });
  work.reset();
  // A Redis that does not answer must not hold shutdown: after 2 s the loop is stopped.
  std::promise<void> joined;
  std::thread waiter([&] {
    thread.join();
    joined.set_value();
  });
  if (joined.get_future().wait_for(std::chrono::seconds(2)) != std::future_status::ready) io.stop();
  waiter.join();
  // Contexts still open after a forced stop are freed here (their thread is gone).
  for (auto* link : {&command, &subscriber}) {
    if (link->context) {
      redisAsyncContext* c = link->context;
      link->context = nullptr;
      c->onDisconnect = nullptr;
      redisAsyncFree(c);
    }
  }
}

}  // namespace sluice::engine::detail
