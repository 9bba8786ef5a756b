#include "sluice/engine/redis_engine.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <future>
#include <random>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine/hiredis_asio.hpp"
#include "engine/redis_script.hpp"
#include "sluice/broker/broker.hpp"
#include "sluice/broker/error.hpp"
#include "sluice/log/log.hpp"

namespace sluice::engine {

namespace {

std::string_view text_of(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
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

void warn(std::string_view message) { log::limited(spdlog::level::warn, "redis_engine", {}, message); }

// A content fingerprint as Redis keeps it: 16 hex digits (Lua numbers are doubles).
std::string print_text(std::uint64_t print) {
  char digits[17];
  const auto end = std::to_chars(digits, digits + 16, print, 16).ptr;
  return std::string(16 - static_cast<std::size_t>(end - digits), '0') + std::string(digits, end);
}

}  // namespace

struct RedisEngine::Impl {
  // One connection to Redis and its reconnect state.
  struct Link {
    Impl* impl;
    const char* name;
    redisAsyncContext* context = nullptr;
    bool connected = false;  // connected and set up (AUTH, SELECT, script / subscription)
    unsigned attempt = 0;    // reconnects since the last success
    boost::asio::steady_timer timer;
    Link(Impl* i, const char* n, boost::asio::io_context& io) : impl(i), name(n), timer(io) {}
  };

  // A publish between EVALSHA and its reply.
  struct PendingAppend {
    Impl* impl;
    Unnumbered event;
    Numbered done;
    std::size_t bytes;
  };

  Impl(RedisSettings s, RedisUrl u)
      : settings(std::move(s)),
        url(std::move(u)),
        keys{settings.prefix + ":" + std::to_string(url.db) + ":"},
        work(io.get_executor()),
        command(this, "command", io),
        subscriber(this, "subscriber", io),
        random(std::random_device{}()) {}

  RedisSettings settings;
  RedisUrl url;  // this shard's
  detail::RedisKeys keys;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  Link command;     // EVALSHA, XRANGE, HMGET, SMEMBERS
  Link subscriber;  // PSUBSCRIBE: every node's events
  CommittedSink* sink = nullptr;
  std::thread thread;
  std::atomic<bool> ready{false};
  std::atomic<std::size_t> pending_bytes{0};
  bool stopping = false;
  bool started = false;
  std::string script_sha;
  bool subscribed = false;
  std::unordered_set<std::string> filling;  // topics being read back from their Stream
  std::size_t catch_up_left = 0;            // topics of the current catch-up not yet read back
  std::mt19937_64 random;
  // A Redis that stops answering without closing the connection (stopped,
  // overloaded): a PING per second on the command connection, and a
  // connection whose PING is unanswered for command_timeout is dropped, so
  // publishes fail (503) instead of hanging.
  boost::asio::steady_timer watchdog{io};
  bool ping_outstanding = false;
  std::chrono::steady_clock::time_point ping_sent;

  // --- connections ---

  void watch() {
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

  static void on_ping(redisAsyncContext*, void*, void* data) { static_cast<Impl*>(data)->ping_outstanding = false; }

  // Closes a connection from outside hiredis' callbacks: its pending
  // commands fail (null replies), then it reconnects like after a loss.
  void drop(Link& link) {
    redisAsyncContext* c = link.context;
    if (!c) return;
    c->onDisconnect = nullptr;
    mark_down(link);  // before the failed publishes are answered: whoever got a 503 then sees /ready 503
    redisAsyncFree(c);
    if (!stopping) reconnect_later(link);
  }

  void mark_down(Link& link) {
    link.context = nullptr;
    link.connected = false;
    ready = false;
    if (&link == &subscriber) subscribed = false;
    if (&link == &command) {
      script_sha.clear();
      ping_outstanding = false;
    }
  }

  void lost(Link& link) {
    mark_down(link);
    if (!stopping) reconnect_later(link);
  }

  void connect(Link& link) {
    if (stopping) return;
    redisAsyncContext* c = redisAsyncConnect(url.host.c_str(), url.port);
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

  // Exponential backoff with jitter (half to all of the delay); never zero.
  void reconnect_later(Link& link) {
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

  static void on_connect(const redisAsyncContext* c, int status) {
    auto& link = *static_cast<Link*>(c->data);
    if (status != REDIS_OK) {
      warn(std::string("redis ") + link.name + ": cannot connect: " + c->errstr);
      link.context = nullptr;  // hiredis frees it
      return link.impl->reconnect_later(link);
    }
    link.impl->set_up(link);
  }

  static void on_disconnect(const redisAsyncContext* c, int status) {
    auto& link = *static_cast<Link*>(c->data);
    Impl& impl = *link.impl;
    if (!impl.stopping) {
      warn(std::string("redis ") + link.name + ": connection lost" +
           (status == REDIS_OK ? std::string() : std::string(": ") + c->errstr) + "; reconnecting");
    }
    impl.lost(link);
  }

  // AUTH and SELECT first (their replies come first: one connection is in order).
  void set_up(Link& link) {
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
    }
  }

  static void on_setup_reply(redisAsyncContext* c, void* r, void*) {
    auto* reply = static_cast<redisReply*>(r);
    if (!reply || reply->type != REDIS_REPLY_ERROR) return;
    // The message may not contain the password (Redis never echoes it).
    warn("redis: set-up refused: " + std::string(text_of(reply)));
    redisAsyncDisconnect(c);
  }

  static void on_script_loaded(redisAsyncContext* c, void* r, void* data) {
    auto& link = *static_cast<Link*>(data);
    auto* reply = static_cast<redisReply*>(r);
    if (!reply) return;
    if (reply->type != REDIS_REPLY_STRING) {
      // E.g. LOADING after a restart: without the script this node can never
      // be ready, so start over (with backoff) rather than wait forever.
      warn("redis: SCRIPT LOAD failed: " + std::string(text_of(reply)) + "; reconnecting");
      redisAsyncDisconnect(c);
      return;
    }
    link.impl->script_sha.assign(reply->str, reply->len);
    link.connected = true;
    link.attempt = 0;
    link.impl->maybe_catch_up();
  }

  // --- events from other nodes ---

  static void on_message(redisAsyncContext* c, void* r, void* data) {
    auto& link = *static_cast<Link*>(data);
    Impl& impl = *link.impl;
    auto* reply = static_cast<redisReply*>(r);
    if (reply && reply->type == REDIS_REPLY_ERROR) {
      // PSUBSCRIBE refused (e.g. LOADING): not subscribed, so start over.
      warn("redis subscriber: PSUBSCRIBE failed: " + std::string(text_of(reply)) + "; reconnecting");
      redisAsyncDisconnect(c);
      return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    const std::string_view kind = text_of(reply->element[0]);
    if (kind == "psubscribe") {
      impl.subscribed = true;
      link.connected = true;
      link.attempt = 0;
      return impl.maybe_catch_up();
    }
    if (kind != "pmessage" || reply->elements < 4) return;
    const std::string_view channel = text_of(reply->element[2]);
    const std::string prefix = impl.keys.channel_prefix();
    if (!channel.starts_with(prefix)) return;
    impl.on_event(std::string(channel.substr(prefix.size())), text_of(reply->element[3]));
  }

  void on_event(const std::string& topic, std::string_view payload) {
    boost::system::error_code ec;
    const auto value = boost::json::parse(payload, ec);
    const auto* o = value.if_object();
    if (ec || !o) return warn("redis: an event announcement that is not JSON was ignored");
    auto field = [&](const char* name) -> std::string_view {
      const auto* v = o->if_contains(name);
      return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
    };
    broker::EventFields f;
    f.topic = topic;
    f.offset = to_u64(field("o"));
    f.epoch = field("e");
    f.id = field("i");
    f.time_ms = to_i64(field("t"));
    f.type = field("y");
    f.key = field("k");
    f.data = field("d");
    if (f.offset == 0 || f.epoch.empty()) return;
    if (sink->committed(broker::make_event(f)) == CommittedSink::Accepted::waiting) fill(topic);
  }

  // --- catching up from the Streams ---

  // Once both connections are up: every topic Redis knows is read back from
  // where this node stands, so nothing published meanwhile is skipped.
  void maybe_catch_up() {
    if (!command.connected || !subscribed || script_sha.empty() || !command.context) return;
    const std::string key = keys.topics();
    redisAsyncCommand(command.context, on_topics, this, "SMEMBERS %b", key.data(), key.size());
  }

  static void on_topics(redisAsyncContext*, void* r, void* data) {
    Impl& impl = *static_cast<Impl*>(data);
    auto* reply = static_cast<redisReply*>(r);
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return;
    impl.catch_up_left = reply->elements + 1;
    for (std::size_t i = 0; i < reply->elements; ++i) {
      impl.fill(std::string(text_of(reply->element[i])), true);
    }
    impl.caught_up_one();
  }

  void caught_up_one() {
    if (catch_up_left == 0 || --catch_up_left != 0) return;
    if (command.connected && subscribed && !stopping) ready = true;
  }

  // A read-back of one topic: HMGET its epoch and last offset, then XRANGE
  // from where this node stands, in batches.
  struct Fill {
    Impl* impl;
    std::string topic;
    bool catch_up;
    std::string epoch;
    std::uint64_t last = 0;  // the topic's last offset in Redis
    std::uint64_t from = 0;  // next offset to read
  };

  void fill(const std::string& topic, bool catch_up = false) {
    if (!command.context || !filling.insert(topic).second) {
      if (catch_up) caught_up_one();
      return;
    }
    auto* f = new Fill{this, topic, catch_up, {}, 0, 0};
    const std::string meta = keys.meta(topic);
    if (redisAsyncCommand(command.context, on_meta, f, "HMGET %b epoch offset", meta.data(), meta.size()) != REDIS_OK) {
      end_fill(f);
    }
  }

  void end_fill(Fill* f) {
    filling.erase(f->topic);
    if (f->catch_up) caught_up_one();
    delete f;
  }

  static void on_meta(redisAsyncContext*, void* r, void* data) {
    auto* f = static_cast<Fill*>(data);
    Impl& impl = *f->impl;
    auto* reply = static_cast<redisReply*>(r);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
      return impl.end_fill(f);
    }
    f->epoch = std::string(text_of(reply->element[0]));
    f->last = to_u64(text_of(reply->element[1]));
    const TopicView here = impl.sink->view(f->topic);
    f->from = here.epoch == f->epoch ? here.committed + 1 : 1;
    impl.read_range(f);
  }

  void read_range(Fill* f) {
    if (f->from > f->last || !command.context) return end_fill(f);
    const std::string stream = keys.stream(f->topic);
    const std::string start = std::to_string(f->from) + "-0";
    const std::string count = std::to_string(settings.read_batch);
    if (redisAsyncCommand(command.context, on_range, f, "XRANGE %b %b + COUNT %b", stream.data(), stream.size(),
                          start.data(), start.size(), count.data(), count.size()) != REDIS_OK) {
      end_fill(f);
    }
  }

  static void on_range(redisAsyncContext*, void* r, void* data) {
    auto* f = static_cast<Fill*>(data);
    Impl& impl = *f->impl;
    auto* reply = static_cast<redisReply*>(r);
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return impl.end_fill(f);
    std::uint64_t first = 0, last_read = 0;
    for (std::size_t i = 0; i < reply->elements; ++i) {
      const redisReply* entry = reply->element[i];
      if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
      const std::uint64_t offset = to_u64(text_of(entry->element[0]));  // "N-0": the digits before '-'
      const redisReply* fields = entry->element[1];
      broker::EventFields e;
      e.topic = f->topic;
      e.offset = offset;
      for (std::size_t k = 0; k + 1 < fields->elements; k += 2) {
        const std::string_view name = text_of(fields->element[k]), value = text_of(fields->element[k + 1]);
        if (name == "i") e.id = value;
        else if (name == "t") e.time_ms = to_i64(value);
        else if (name == "y") e.type = value;
        else if (name == "k") e.key = value;
        else if (name == "d") e.data = value;
        else if (name == "e") e.epoch = value;
      }
      if (e.offset == 0 || e.epoch.empty()) continue;
      if (first == 0) {
        first = e.offset;
        // The Stream no longer holds what this node missed before `first`:
        // move past it (resuming clients then get recovered: false).
        if (first > f->from) impl.sink->skip(f->topic, std::string(e.epoch), first - 1);
      }
      last_read = e.offset;
      impl.sink->committed(broker::make_event(e));
    }
    if (reply->elements == 0) {
      // Nothing left in the Stream (trimmed to nothing, or MAXLEN 0).
      impl.sink->skip(f->topic, f->epoch, f->last);
      return impl.end_fill(f);
    }
    if (reply->elements < impl.settings.read_batch || last_read >= f->last) return impl.end_fill(f);
    f->from = last_read + 1;
    impl.read_range(f);
  }

  // --- publishes ---

  void append(Unnumbered event, Numbered done, std::size_t bytes) {
    if (!command.connected || script_sha.empty() || !command.context) {
      pending_bytes -= bytes;
      return done(nullptr, make_error_code(broker::Error::engine_unavailable));
    }
    // The pending append owns the strings the command is built from (hiredis copies them).
    auto* pending = new PendingAppend{this, std::move(event), std::move(done), bytes};
    const Unnumbered& e = pending->event;
    const std::string meta = keys.meta(e.topic), stream = keys.stream(e.topic), topics = keys.topics();
    const std::string maxlen = std::to_string(settings.max_events(e.topic));
    const std::string max_age = std::to_string(std::max<long long>(settings.max_age(e.topic).count(), 0));
    const std::string epoch = broker::new_epoch(), time = std::to_string(e.time_ms);
    const std::string channel = keys.channel_prefix() + e.topic;
    // With an idempotencyKey: a fourth key and two more arguments (see kAppendScript).
    const bool keyed = !e.idempotency_key.empty();
    const std::string idempotency = keyed ? keys.idempotency(e.idempotency_key) : std::string();
    const std::string print = keyed ? print_text(e.idempotency_print) : std::string();
    const std::string window =
        keyed ? std::to_string(std::max<long long>(settings.idempotency_window.count(), 1)) : std::string();
    const std::string_view keyed_args[] = {"EVALSHA", script_sha, "4",    meta,    stream, topics, idempotency,
                                           e.topic,   maxlen,     epoch,  e.id,    time,   e.type, e.key,
                                           e.data,    channel,    max_age, print,  window};
    const std::string_view plain_args[] = {"EVALSHA", script_sha, "3",    meta,   stream, topics, e.topic, maxlen,
                                           epoch,     e.id,       time,   e.type, e.key,  e.data, channel, max_age};
    using Args = std::span<const std::string_view>;
    const Args args = keyed ? Args(keyed_args) : Args(plain_args);
    const char* argv[std::size(keyed_args)];
    std::size_t lengths[std::size(keyed_args)];
    for (std::size_t i = 0; i < args.size(); ++i) {
      argv[i] = args[i].data();
      lengths[i] = args[i].size();
    }
    if (redisAsyncCommandArgv(command.context, on_appended, pending, static_cast<int>(args.size()), argv, lengths) !=
        REDIS_OK) {
      std::unique_ptr<PendingAppend> p(pending);
      pending_bytes -= p->bytes;
      p->done(nullptr, make_error_code(broker::Error::engine_unavailable));
    }
  }

  // The script's {offset, epoch}, or the first publish under the event's
  // idempotencyKey; no reply (the connection went): not acknowledged, so
  // never reported published.
  static void on_appended(redisAsyncContext*, void* r, void* data) {
    std::unique_ptr<PendingAppend> p(static_cast<PendingAppend*>(data));
    p->impl->pending_bytes -= p->bytes;
    auto* reply = static_cast<redisReply*>(r);
    // No reply: the connection is going (hiredis answers before its disconnect
    // callback), so not ready from now on, before the 503 is seen.
    if (!reply) p->impl->ready = false;
    if (reply && reply->type == REDIS_REPLY_STRING && !p->event.idempotency_key.empty()) {
      return repeated(*p, text_of(reply));
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
      if (reply) warn("redis: publish refused: " + std::string(text_of(reply)));
      return p->done(nullptr, make_error_code(broker::Error::engine_unavailable));
    }
    broker::EventFields f;
    f.id = p->event.id;
    f.topic = p->event.topic;
    f.offset = static_cast<std::uint64_t>(reply->element[0]->integer);
    f.epoch = text_of(reply->element[1]);
    f.type = p->event.type;
    f.key = p->event.key;
    f.time_ms = p->event.time_ms;
    f.data = p->event.data;
    p->done(broker::make_event(f), {});
  }

  // The key was there: the first publish's {i, t, o, e, m, p}. The same
  // fingerprint is a repeat (answered with the first event's identity), another
  // one a conflict; nothing was appended either way.
  static void repeated(PendingAppend& p, std::string_view stored) {
    boost::system::error_code ec;
    const auto value = boost::json::parse(stored, ec);
    const auto* o = value.if_object();
    auto field = [&](const char* name) -> std::string_view {
      const auto* v = o ? o->if_contains(name) : nullptr;
      return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
    };
    broker::EventFields f;
    f.id = field("i");
    f.topic = field("t");
    f.offset = to_u64(field("o"));
    f.epoch = field("e");
    f.time_ms = to_i64(field("m"));
    f.data = "null";
    if (ec || f.id.empty() || f.offset == 0) {
      warn("redis: an idempotency key's value is not a publish result; publish refused");
      return p.done(nullptr, make_error_code(broker::Error::engine_unavailable));
    }
    if (field("p") != print_text(p.event.idempotency_print)) {
      return p.done(nullptr, make_error_code(broker::Error::idempotency_conflict));
    }
    p.done(broker::make_event(f), make_error_code(broker::Error::idempotent_repeat));
  }

  // --- stopping ---

  // Answers what was sent (or fails it), disconnects, joins the thread. Idempotent.
  void stop() {
    if (!started || !thread.joinable()) return;
    // Pending replies are answered, then the connections close (redisAsyncDisconnect).
    boost::asio::post(io, [this] {
      stopping = true;
      ready = false;
      watchdog.cancel();
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
};

std::size_t RedisEngine::shard_of(std::string_view topic, std::size_t shards) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a: stable across nodes, builds and platforms
  for (const char c : topic) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return static_cast<std::size_t>(hash % shards);
}

RedisEngine::RedisEngine(RedisSettings settings) {
  for (const auto& url : settings.shards) shards_.push_back(std::make_unique<Impl>(settings, url));
}

RedisEngine::~RedisEngine() { stop(); }

void RedisEngine::start(CommittedSink& sink) {
  for (auto& shard : shards_) {
    Impl& impl = *shard;
    impl.sink = &sink;
    impl.started = true;
    boost::asio::post(impl.io, [&impl] {
      impl.connect(impl.command);
      impl.connect(impl.subscriber);
      impl.watch();
    });
    impl.thread = std::thread([&impl] { impl.io.run(); });
  }
}

void RedisEngine::append_unnumbered(Unnumbered event, Numbered done) {
  if (shards_.empty()) return done(nullptr, make_error_code(broker::Error::engine_unavailable));
  Impl& impl = *shards_[shard_of(event.topic, shards_.size())];
  if (!impl.ready.load()) return done(nullptr, make_error_code(broker::Error::engine_unavailable));
  const std::size_t bytes = event.data.size() + event.topic.size() + event.type.size() + event.key.size() +
                            event.idempotency_key.size() + 64;
  if (impl.pending_bytes.fetch_add(bytes) + bytes > impl.settings.max_pending_bytes) {
    impl.pending_bytes -= bytes;
    return done(nullptr, std::make_error_code(std::errc::resource_unavailable_try_again));
  }
  boost::asio::post(impl.io, [&impl, event = std::move(event), done = std::move(done), bytes]() mutable {
    impl.append(std::move(event), std::move(done), bytes);
  });
}

bool RedisEngine::available() const noexcept {
  return !shards_.empty() &&
         std::all_of(shards_.begin(), shards_.end(), [](const std::unique_ptr<Impl>& s) { return s->ready.load(); });
}

void RedisEngine::stop() {
  for (auto& shard : shards_) shard->stop();
}

}  // namespace sluice::engine
