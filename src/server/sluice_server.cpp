#include "sluice/server/sluice_server.hpp"

#include <algorithm>
#include <future>
#include <thread>

#include "server/http/cors.hpp"
#include "server/http/http_api.hpp"
#include "server/http/http_front_door.hpp"
#include "server/shared_subscriptions.hpp"
#include "server/store_retention.hpp"
#include "server/webhooks/webhook_service.hpp"
#include "server/server_metrics.hpp"
#include "sluice/metrics/process.hpp"
#include "server/ws/upgrade_gate.hpp"
#include "sluice/auth/token_verifier.hpp"
#include "sluice/engine/redis_engine.hpp"
#include "sluice/engine/store_subscriptions.hpp"
#include "sluice/log/log.hpp"
#include "sluice/net/tls.hpp"
#include "sluice/util/block_pool.hpp"
#include "sluice/util/unix_time.hpp"
#include "sluice/util/wake_batch.hpp"

namespace sluice::server {

// One per event loop; only that loop touches it (after start()).
struct SluiceServer::LoopState {
  broker::FanOut fan_out;  // published events into this loop's subscribers
  std::unique_ptr<InbandSession::Context> session_context;  // set in start(); outlives the sessions
  // By value: one pooled block per session (idle memory); nodes never move.
  std::unordered_map<std::uint64_t, InbandSession, std::hash<std::uint64_t>, std::equal_to<std::uint64_t>,
                     util::PooledAllocator<std::pair<const std::uint64_t, InbandSession>>>
      sessions;
  // Sessions whose upgrade asked for a subscription's stream, until they open
  // (or close): only the few streams pay for their target.
  std::unordered_map<std::uint64_t, detail::StreamTarget> pending_streams;
  // /connection/websocket (Centrifugo's protocol): the same, for its sessions.
  std::unique_ptr<centrifugo::Session::Context> centrifugo_context;
  std::unordered_map<std::uint64_t, std::shared_ptr<centrifugo::Session>> centrifugo_sessions;
  std::uint64_t next_id = 0;
  // Drains this loop owes other loops: events it published this turn went
  // into their empty mailboxes; the drains are posted once the turn's reads
  // are done (post_owed_drains), so each loop gets the turn's whole batch.
  std::vector<std::size_t> drains_owed;

  // Calls `f` on every session open when it starts, looked up again by id
  // before each call: what `f` sets off may end (erase) others.
  template <class F>
  void for_each_session(F&& f) {
    std::vector<std::uint64_t> ids;
    ids.reserve(sessions.size());
    for (const auto& entry : sessions) ids.push_back(entry.first);
    for (const std::uint64_t id : ids) {
      if (auto it = sessions.find(id); it != sessions.end()) f(it->second);
    }
  }
};

namespace {

// The verifier of connection tokens: HS256 with the secret file, or RS256 /
// ES256 as the public key's type says (an EC P-256 key: ES256).
std::shared_ptr<const auth::TokenVerifier> make_token_verifier(const ServerSettings& s, std::string& error) {
  auth::TokenVerifierSettings v;
  v.leeway = s.jwt_leeway;
  if (!s.jwt_secret_file.empty()) {
    v.algorithm = auth::TokenAlgorithm::hs256;
    v.key_file = s.jwt_secret_file;
  } else {
    v.key_file = s.jwt_public_key;
    std::string not_ec;
    const bool ec = auth::read_public_key_file(auth::TokenAlgorithm::es256, v.key_file, not_ec).has_value();
    v.algorithm = ec ? auth::TokenAlgorithm::es256 : auth::TokenAlgorithm::rs256;
  }
  auto verifier = auth::TokenVerifier::create(v, error);
  if (!verifier) error = (s.jwt_secret_file.empty() ? "--jwt-public-key: " : "--jwt-secret-file: ") + error;
  return verifier;
}

// A connection id: a per-loop sequence number above the loop's index. 16
// bits hold every loop ServerSettings allows (at most 1024).
constexpr unsigned kLoopBits = 16;
static_assert((std::size_t{1} << kLoopBits) > 1024, "a connection id must hold every loop index");
std::uint64_t make_connection_id(std::uint64_t sequence, std::size_t loop) {
  return (sequence << kLoopBits) | static_cast<std::uint64_t>(loop);
}
std::size_t loop_of(std::uint64_t connection_id) {
  return static_cast<std::size_t>(connection_id & ((std::uint64_t{1} << kLoopBits) - 1));
}

}  // namespace

SluiceServer::SluiceServer(ServerSettings settings) : settings_(std::move(settings)) {
  std::size_t threads = settings_.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  loops_ = std::make_unique<net::LoopGroup>(threads);
  for (std::size_t i = 0; i < threads; ++i) states_.push_back(std::make_unique<LoopState>());
}

SluiceServer::~SluiceServer() { shutdown(std::chrono::milliseconds(0)); }

// Each step below makes one part; start() composes them in dependency order.
bool SluiceServer::start(std::string& error) {
  // spdlog's registry is a lazy static in an uninstrumented library: make it
  // here, before any thread this server starts, so no two of them race to build it.
  spdlog::default_logger_raw();
  metrics_ = std::make_unique<detail::ServerMetrics>(metrics_registry_);
  std::vector<engine::RedisUrl> redis;  // empty: the embedded engine
  if (!open_storage(redis, error)) return false;
  // With Redis, subscriptions and webhook state live on its first shard, shared by every node.
  if (!redis.empty()) shared_ = std::make_unique<detail::SharedSubscriptions>(redis.front(), settings_.webhook.lease_ttl);
  make_subscriptions();
  start_broker(std::move(redis));
  if (!start_webhooks(error)) return false;
  idempotency_ = std::make_unique<IdempotencyIndex>(
      store_.get(), IdempotencyLimits{settings_.idempotency_window, settings_.idempotency_max_keys});
  publisher_ = std::make_unique<PublishService>(*broker_, *idempotency_);
  if (!make_auth(error)) return false;
  make_session_contexts();
  make_http_chain();
  register_metrics();
  if (!listen(error)) return false;
  if (shared_) shared_->arm();  // other nodes' changes apply from here (and what changed meanwhile)
  return true;
}

// --engine redis://… (one per shard; parsed here, connected by start_broker), or the
// embedded store: SQLite with its group-commit log, or nothing in memory mode.
bool SluiceServer::open_storage(std::vector<engine::RedisUrl>& redis, std::string& error) {
  for (const auto& text : settings_.engine) {
    auto url = engine::parse_redis_url(text, error);
    if (!url) {
      error = "--engine " + engine::mask_redis_password(text) + ": " + error;
      return false;
    }
    if (url->password.empty()) url->password = settings_.engine_password;
    if (url->tls) {
      // hiredis 0.14 has no TLS: its connections to this server go through a tunnel.
      engine::RedisTlsOptions tls{.host = url->host,
                                  .port = url->port,
                                  .tls = {.verify_peer = true,
                                          .ca_file = settings_.engine_ca_file,
                                          .cert_file = settings_.engine_cert_file,
                                          .key_file = settings_.engine_key_file}};
      auto tunnel = engine::RedisTlsTunnel::start(std::move(tls), error);
      if (!tunnel) {
        error = "--engine " + engine::mask_redis_password(text) + ": " + error;
        return false;
      }
      url->unix_path = tunnel->path();
      redis_tunnels_.push_back(std::move(tunnel));
    }
    redis.push_back(std::move(*url));
  }
  if (redis.empty() && settings_.store == "sqlite") {
    store_ = store::open_sqlite_store(settings_.data_dir, settings_.durability, error);
    if (!store_) return false;
    log_ = std::make_unique<store::GroupCommitLog>(*store_);
    log_->set_commit_observer(
        [metrics = metrics_.get()](std::size_t events, double seconds) { metrics->store_commit(events, seconds); });
  }
  return true;
}

std::string SluiceServer::node_id() const { return shared_ ? shared_->node() : std::string(); }

void SluiceServer::make_subscriptions() {
  if (shared_) {
    subscription_store_ = std::make_unique<engine::StoreSubscriptions>(shared_->table());
  } else if (store_) {
    subscription_store_ = std::make_unique<engine::StoreSubscriptions>(*store_);
  }
  subscriptions_ = std::make_unique<SubscriptionRegistry>(subscription_store_.get());
  if (subscription_store_) {
    load_errors_ = subscriptions_->load().errors;  // subscriptions survive a restart
    // With Redis unreachable now, they are read once it answers (SharedSubscriptions).
    if (shared_ && !shared_->table().last_error().empty()) {
      spdlog::warn("subscriptions not read from Redis at start ({}): read once it answers",
                   shared_->table().last_error());
    }
  }
  subscriptions_->set_on_removed([this](const std::string& id) {
    close_streams_of(id);
    if (webhooks_) webhooks_->remove(id);  // its deliveries stop at once
  });
  // Created on another node (shared only; webhooks_ exists by then: see SharedSubscriptions::arm).
  subscriptions_->set_on_added([this](const SubscriptionPtr& sub) { webhooks_->add(sub); });
}

// Each event goes to every loop's fan-out; a loop with no matching
// subscriber does one trie walk. Called under the topic's shard lock: it
// only pushes and posts (the broker's rule). Published on a loop, the drains
// of the other loops wait until that loop's turn has read all it will
// publish: a loop woken at the first event would drain the turn's events a
// few at a time, and every subscriber would get more, smaller writes. The
// same holds for a group commit's events, completed on the store's writer
// thread inside a util::WakeBatch.
broker::Broker::Dispatch SluiceServer::make_dispatch() {
  return [this](const broker::EventPtr& event) {
    const std::size_t loops = loops_->size();
    const std::optional<std::size_t> current = loops_->current_index();
    LoopState* here = current ? states_[*current].get() : nullptr;
    // This loop's own drain is posted last: the others' wake-up runs before
    // it, so they fan out while this loop does.
    const std::size_t first = current ? *current + 1 : 0;
    for (std::size_t k = 0; k < loops; ++k) {
      const std::size_t i = (first + k) % loops;
      LoopState* state = states_[i].get();
      if (!state->fan_out.offer(event)) continue;
      if (here && state != here) {
        if (here->drains_owed.empty()) loops_->at(*current).post([this, here] { post_owed_drains(*here); });
        here->drains_owed.push_back(i);
        continue;
      }
      if (auto* wakes = here ? nullptr : util::WakeBatch::current()) {
        wakes->hold([this, i] { post_drain(i); });  // a group commit: once all its events are queued
        continue;
      }
      post_drain(i);
    }
  };
}

void SluiceServer::post_drain(std::size_t loop) {
  loops_->at(loop).post([this, state = states_[loop].get(), loop] {
    const std::int64_t now_ms = unix_time_ms();
    state->fan_out.drain(
        [&](std::span<const broker::EventPtr> batch) {
          count_matches(loop, batch);
          if (webhooks_) webhooks_->on_events(loop, batch);
        },
        [&](const broker::EventPtr& delivered, std::size_t recipients) {
          if (recipients > 0) metrics_->delivered(delivered->time_ms, now_ms);
        });
  });
}

// On the loop of `state`, after the turn that published into other loops.
void SluiceServer::post_owed_drains(LoopState& state) {
  for (const std::size_t loop : state.drains_owed) post_drain(loop);
  state.drains_owed.clear();
}

void SluiceServer::start_broker(std::vector<engine::RedisUrl> redis) {
  if (!redis.empty()) {
    // Each topic's Stream is bounded like history (its count, byte and age bounds).
    engine::RedisSettings r;
    r.shards = std::move(redis);
    r.max_events = [policy = settings_.history_policy()](const std::string& topic) {
      return policy.limits_for(topic).max_events;
    };
    r.max_age = [policy = settings_.history_policy()](const std::string& topic) {
      return policy.limits_for(topic).max_age;
    };
    r.max_bytes = [policy = settings_.history_policy()](const std::string& topic) {
      return policy.limits_for(topic).max_bytes;
    };
    r.trim_interval = settings_.engine_trim_interval;
    r.idempotency_window = settings_.idempotency_window;  // keys shared by every node, for as long as here
    auto engine = std::make_unique<engine::RedisEngine>(std::move(r));
    broker_ = std::make_unique<broker::Broker>(make_dispatch(), settings_.history_policy(), engine.get());
    if (shared_) shared_->watch(*engine, *subscriptions_, *subscription_store_);
    engine->start(*broker_);
    engine_ = std::move(engine);
  } else {
    broker_ = std::make_unique<broker::Broker>(make_dispatch(), settings_.history_policy(), log_.get());
  }
  broker_->set_max_topics(settings_.max_topics);
  max_connections_.store(settings_.max_connections, std::memory_order_relaxed);
  if (store_) {
    // Offsets continue where they were; recent events refill history.
    const auto now_ms = unix_time_ms();
    // Enough for the topic with the most history; restore trims each topic to its own bounds.
    const auto widest = settings_.history_policy().widest();
    broker_->restore(store_->load_positions(),
                     store_->load_recent(widest.max_events, now_ms - widest.max_age.count()));
    retention_ = std::make_unique<StoreRetention>(*broker_, *store_, settings_.retention_interval);
  }
}

bool SluiceServer::start_webhooks(std::string& error) {
  webhooks_ = std::make_unique<WebhookService>(
      *loops_, *broker_, store_.get(), settings_.webhook,
      [metrics = metrics_.get()](std::string_view outcome, double seconds, double since_publish) {
        metrics->webhook_attempt(outcome, seconds, since_publish);
      });
  if (shared_) shared_->share(*webhooks_);
  std::vector<SubscriptionPtr> existing;
  for (SubscriptionRegistry::Page page = subscriptions_->list(1000, {});;
       page = subscriptions_->list(1000, existing.back()->id)) {
    existing.insert(existing.end(), page.items.begin(), page.items.end());
    if (!page.next_cursor) break;
  }
  return webhooks_->start(existing, error, load_errors_);
}

// API keys, connection tokens, and the per-IP connection limits.
bool SluiceServer::make_auth(std::string& error) {
  if (!settings_.keys_file.empty()) {
    auto ring = auth::KeyRing::load(settings_.keys_file, error);
    if (!ring) return false;
    keys_.set(std::move(ring));
  }
  if (settings_.auth_required()) {
    std::shared_ptr<const auth::TokenVerifier> tokens;
    if (!settings_.jwt_secret_file.empty() || !settings_.jwt_public_key.empty()) {
      tokens = make_token_verifier(settings_, error);
      if (!tokens) return false;
    }
    connection_auth_ = std::make_unique<auth::ConnectionAuthenticator>(
        settings_.keys_file.empty() ? nullptr : &keys_, std::move(tokens),
        [metrics = metrics_.get()](std::string_view reason) { metrics->auth_refused(reason); });
  }
  upgrade_gate_ = std::make_unique<detail::UpgradeGate>(settings_.allowed_origins, connection_auth_.get(),
                                                        *subscriptions_, metrics_.get());
  // Made also when off (0), so that a reload can turn them on.
  connections_per_ip_ = std::make_unique<limits::PerKeyCounter>(settings_.max_connections_per_ip);
  new_connections_per_ip_ = std::make_unique<limits::KeyedRateLimiter>(
      limits::RateLimit{settings_.new_connections_per_ip_per_second, settings_.new_connections_per_ip_burst});
  return true;
}

// What the sessions of each loop share: /v1/ws and Centrifugo's protocol.
void SluiceServer::make_session_contexts() {
  InbandLimits session_limits;
  session_limits.max_subscriptions = settings_.max_subscriptions;
  centrifugo::SessionSettings centrifugo_settings;
  centrifugo_settings.ping_interval = settings_.ping_interval;
  centrifugo_settings.pong_timeout = settings_.pong_timeout;
  centrifugo_settings.connect_timeout = std::max(settings_.handshake_timeout, std::chrono::milliseconds(10'000));
  centrifugo_settings.max_subscriptions = settings_.max_subscriptions;
  centrifugo_settings.expired_close_delay = settings_.expired_close_delay;
  for (auto& state : states_) {
    state->session_context.reset(new InbandSession::Context{state->fan_out.hub(), *broker_, *publisher_, session_limits,
                                                            *this, connection_auth_.get(), connections_per_ip_.get(),
                                                            new_connections_per_ip_.get(), settings_.limit_loopback});
    state->centrifugo_context.reset(new centrifugo::Session::Context{
        state->fan_out.hub(), *broker_, *publisher_, centrifugo_settings, *this, connection_auth_.get(),
        connections_per_ip_.get(), new_connections_per_ip_.get(), settings_.limit_loopback, std::string(kVersion)});
    state->session_context->metrics = &metrics_->session_metrics();
    state->centrifugo_context->metrics = &metrics_->session_metrics();
  }
}

// The HTTP API, wrapped by metrics and CORS, behind the front door that
// serializes answers and routes them to their loops.
void SluiceServer::make_http_chain() {
  ApiLimits api_limits;
  api_limits.max_body_bytes = settings_.max_body_bytes;
  api_limits.rate_per_second = settings_.rate_limit;
  api_limits.rate_burst = settings_.rate_burst;
  api_limits.key_rate_per_second = settings_.key_rate_limit;
  api_limits.key_rate_burst = settings_.key_rate_burst;
  api_ = std::make_unique<HttpApi>(*broker_, *subscriptions_, store_.get(), api_limits, HttpApi::Clock{},
                                   publisher_.get());
  api_->set_webhooks(webhooks_.get());
  api_->set_auth_refusal_observer([metrics = metrics_.get()](std::string_view reason) { metrics->auth_refused(reason); });
  if (engine_) api_->set_ready_check([engine = engine_.get()] { return engine->available(); });
  // With auth on, the HTTP API takes API keys only: with a token key and no
  // keys file, every API request but the probes is refused.
  if (settings_.auth_required()) api_->require_keys(keys_);
  HttpHandler chain = detail::with_metrics(api_->handler(), *metrics_, [this](const HttpRequest& request) {
    return api_->authorize(request, auth::Scope::read);
  });
  if (!settings_.cors_origins.empty()) chain = detail::with_cors(std::move(chain), settings_.cors_origins);
  detail::HttpFrontDoor::Options door;
  door.access_log = settings_.access_log;
  // The peer's address costs a getpeername() per request: only the rate limiter and the access log need it.
  door.needs_ip = api_limits.rate_per_second > 0 || settings_.access_log;
  http_front_door_ = std::make_unique<detail::HttpFrontDoor>(*loops_, std::move(chain), *metrics_, door);
}

bool SluiceServer::listen(std::string& error) {
  net::ServerOptions options;
  options.address = settings_.address;
  options.port = settings_.port;
  auto& c = options.connection;
  c.handshake.max_header_bytes = settings_.max_header_bytes;
  c.handshake.deflate.enabled = settings_.deflate;
  // Our side never keeps a compression context between messages: events are
  // then compressed once per loop and shared by every deflate subscriber.
  c.handshake.deflate.server_no_context_takeover = true;
  c.handshake.subprotocols.emplace_back(centrifugo::kSubprotocol);  // accepted when a Centrifugo client offers it
  c.codec.max_message_size = settings_.max_message_size;
  c.codec.max_frame_size = settings_.max_message_size;
  c.timeouts.handshake = settings_.handshake_timeout;
  c.timeouts.close = settings_.close_timeout;
  c.timeouts.ping_interval = settings_.ping_interval;
  c.timeouts.pong_timeout = settings_.pong_timeout;
  c.timeouts.idle = settings_.idle_timeout;
  c.send_queue_limit = settings_.send_queue_limit;
  c.overflow = settings_.overflow;
  c.max_body_bytes = settings_.max_body_bytes;
  c.metrics = &metrics_->connection_metrics();
  c.websocket_route = [gate = upgrade_gate_.get()](const net::ParsedRequest& request) { return gate->check(request); };
  c.http_handler = http_front_door_->handler();
  if (!settings_.tls_cert.empty()) {
    options.tls = net::make_server_tls_context(settings_.tls_cert, settings_.tls_key, error);
    if (!options.tls) return false;
  }
  listener_ = std::make_unique<net::Server>(
      *loops_, options, [this](net::EventLoop& loop, const std::shared_ptr<net::Connection>& connection) {
        return on_accept(loop, connection);
      });
  if (auto ec = listener_->listen()) {
    error = "cannot listen on " + settings_.address + ":" + std::to_string(settings_.port) + ": " + ec.message();
    listener_.reset();
    return false;
  }
  listener_->start();
  loops_->start();
  std::lock_guard lock(mutex_);
  running_ = true;
  return true;
}

bool SluiceServer::on_accept(net::EventLoop& loop, const std::shared_ptr<net::Connection>& connection) {
  LoopState& state = *states_[loop.index()];
  const bool admitted = connections_.fetch_add(1) < max_connections_.load(std::memory_order_relaxed);
  metrics_->connections_accepted.add();
  if (!admitted) metrics_->rejected(detail::Rejection::limits);
  // Ids carry their loop, so an operator request (and the close) finds its owner.
  const std::uint64_t id = make_connection_id(++state.next_id, loop.index());
  // The session is the connection's handler (one pointer, no callbacks to
  // allocate: idle memory); state.sessions owns it until session_closed.
  state.sessions.try_emplace(id, id, *state.session_context, connection);
  return admitted;
}

void SluiceServer::session_opened(InbandSession& session, net::Connection&) {
  // /v1/subscriptions/{id}/stream: the session follows that subscription.
  auto& pending = states_[loop_of(session.id())]->pending_streams;
  auto it = pending.find(session.id());
  if (it == pending.end()) return;  // /v1/ws
  const detail::StreamTarget stream = std::move(it->second);
  pending.erase(it);
  session.open_stream(subscriptions_->attach_stream(stream.subscription_id), stream.since);
}

net::ConnectionHandler* SluiceServer::upgrade_requested(InbandSession& session, net::Connection& connection,
                                                        const net::ParsedRequest& request) {
  const std::uint64_t id = session.id();
  LoopState& state = *states_[loop_of(id)];
  const std::string_view target = request.target();
  if (target.substr(0, target.find('?')) != centrifugo::kPath) {
    detail::StreamTarget stream;  // the route checked its parameters
    if (detail::parse_stream_target(target, stream)) state.pending_streams.insert_or_assign(id, std::move(stream));
    return nullptr;
  }
  auto it = state.sessions.find(id);
  if (it == state.sessions.end()) return nullptr;
  auto next = std::allocate_shared<centrifugo::Session>(util::PooledAllocator<centrifugo::Session>{}, id,
                                                        *state.centrifugo_context, connection.shared_from_this());
  state.centrifugo_sessions.emplace(id, next);
  session.release_connection();
  // The InbandSession is inside its own call: out of the map now, destroyed
  // once that call returned.
  auto gone = std::make_shared<decltype(state.sessions)::node_type>(state.sessions.extract(it));
  loops_->at(loop_of(id)).post([gone]() mutable { gone.reset(); });
  return next.get();
}

void SluiceServer::session_closed(centrifugo::Session& session) {
  const std::uint64_t session_id = session.id();
  states_[loop_of(session_id)]->centrifugo_sessions.erase(session_id);
  connection_ended();
}

InbandSession* SluiceServer::find_session(std::uint64_t id) noexcept {
  const std::size_t loop = loop_of(id);
  if (loop >= states_.size()) return nullptr;
  auto& sessions = states_[loop]->sessions;
  auto it = sessions.find(id);
  return it == sessions.end() ? nullptr : &it->second;
}

void SluiceServer::session_closed(InbandSession& session) {
  const std::uint64_t session_id = session.id();
  states_[loop_of(session_id)]->pending_streams.erase(session_id);  // refused before it opened
  states_[loop_of(session_id)]->sessions.erase(session_id);  // the session goes here (its own loop)
  connection_ended();
}

// The counters of the subscriptions each event matches (streams or not),
// on a loop thread, off the broker's locks. Every loop sees every event; the
// loop a topic hashes to counts its events, so each is counted once.
void SluiceServer::count_matches(std::size_t loop, std::span<const broker::EventPtr> events) const {
  const bool any_subscription = subscriptions_->size() > 0;
  const std::int64_t now_ms = unix_time_ms();
  for (const auto& event : events) {
    if (std::hash<std::string_view>{}(event->topic) % loops_->size() != loop) continue;
    metrics_->published(event->time_ms, now_ms);
    if (!any_subscription) continue;
    for (const auto& sub : subscriptions_->matching(event->topic, event->type, event->key, event->parsed_data())) {
      sub->record_match(event->time_ms);
    }
  }
}

// Series read at each scrape from the state that already counts them.
void SluiceServer::register_metrics() {
  using Type = metrics::Registry::Type;
  auto& r = metrics_registry_;
  metrics::register_process_metrics(r);
  // By transport: WebSocket (/v1/ws and streams), Centrifugo's, and the rest (HTTP, handshakes).
  const std::string connections = "sluice_connections", connections_help = "Open TCP connections, by transport.";
  r.callback(connections, connections_help, Type::gauge, {{"transport", "websocket"}},
             [this] { return static_cast<double>(metrics_->websocket_connections.value()); });
  r.callback(connections, connections_help, Type::gauge, {{"transport", "centrifugo"}},
             [this] { return static_cast<double>(metrics_->centrifugo_connections.value()); });
  r.callback(connections, connections_help, Type::gauge, {{"transport", "http"}}, [this] {
    const auto all = static_cast<std::int64_t>(connections_.load(std::memory_order_relaxed));
    const auto ws = metrics_->websocket_connections.value() + metrics_->centrifugo_connections.value();
    return static_cast<double>(std::max<std::int64_t>(0, all - ws));  // the two are read apart: never below 0
  });
  r.callback("sluice_history_events", "Events history holds (all topics).", Type::gauge, {},
             [this] { return static_cast<double>(broker_->history_events()); });
  r.callback("sluice_history_bytes", "Bytes of event frames history holds (all topics).", Type::gauge, {},
             [this] { return static_cast<double>(broker_->history_bytes()); });
  r.callback("sluice_topics", "Topics the broker keeps.", Type::gauge, {},
             [this] { return static_cast<double>(broker_->topic_count()); });
  r.callback("sluice_subscriptions", "Server-side subscriptions.", Type::gauge, {},
             [this] { return static_cast<double>(subscriptions_->size()); });
  r.callback("sluice_fanout_missed_events_total",
             "Events a loop's fan-out mailbox refused (their subscribers were closed with 4008 or got a gap marker).",
             Type::counter, {}, [this] {
               double sum = 0;
               for (const auto& state : states_) sum += static_cast<double>(state->fan_out.missed_total());
               return sum;
             });
  const std::string refusals = "sluice_limit_refusals_total", help = "Requests and connections refused by a limit.";
  r.callback(refusals, help, Type::counter, {{"limit", "http_requests_per_ip"}},
             [this] { return static_cast<double>(api_->refused_by_ip_rate()); });
  r.callback(refusals, help, Type::counter, {{"limit", "http_requests_per_key"}},
             [this] { return static_cast<double>(api_->refused_by_key_rate()); });
  r.callback(refusals, help, Type::counter, {{"limit", "topics"}},
             [this] { return static_cast<double>(broker_->topics_refused()); });
  r.callback(refusals, help, Type::counter, {{"limit", "connections_per_ip"}}, [this] {
    return connections_per_ip_ ? static_cast<double>(connections_per_ip_->refused()) : 0.0;
  });
  r.callback(refusals, help, Type::counter, {{"limit", "new_connections_per_ip"}}, [this] {
    return new_connections_per_ip_ ? static_cast<double>(new_connections_per_ip_->refused()) : 0.0;
  });
}

void SluiceServer::connection_ended() {
  if (connections_.fetch_sub(1) == 1) {
    std::lock_guard lock(mutex_);
    drained_.notify_all();
  }
}

void SluiceServer::close_streams_of(const std::string& subscription_id) {
  // SPEC §1.5: each attached stream is closed by its own loop with 4404; other
  // connections are untouched; a stream already closing ignores the request.
  for (std::size_t i = 0; i < loops_->size(); ++i) {
    loops_->at(i).post([state = states_[i].get(), subscription_id] {
      state->for_each_session([&](InbandSession& session) {
        if (session.stream_id() == subscription_id) session.close(4404, "subscription deleted");
      });
    });
  }
}

void SluiceServer::drop_topic(const std::string& pattern) {
  for (std::size_t i = 0; i < loops_->size(); ++i) {
    loops_->at(i).post([state = states_[i].get(), pattern] {
      state->for_each_session([&](InbandSession& session) { session.drop_subscription(pattern, "topic dropped"); });
      std::vector<std::shared_ptr<centrifugo::Session>> centrifugo;
      for (auto& [id, session] : state->centrifugo_sessions) centrifugo.push_back(session);
      for (auto& session : centrifugo) session->drop_subscription(pattern, "topic dropped");
    });
  }
}

void SluiceServer::close_connection(std::uint64_t connection_id, std::uint16_t code, const std::string& reason) {
  const std::size_t loop = loop_of(connection_id);
  if (loop >= loops_->size()) return;
  loops_->at(loop).post([state = states_[loop].get(), connection_id, code, reason] {
    auto it = state->sessions.find(connection_id);
    if (it != state->sessions.end()) it->second.close(code, reason);
    if (auto c = state->centrifugo_sessions.find(connection_id); c != state->centrifugo_sessions.end()) {
      c->second->close(code, reason);
    }
  });
}

bool SluiceServer::reload_keys(std::size_t& count, std::string& error) {
  if (settings_.keys_file.empty()) {
    error = "no keys file is configured (--keys-file)";
    return false;
  }
  auto ring = auth::KeyRing::load(settings_.keys_file, error);
  if (!ring) return false;  // the previous keys stay in force
  count = ring->size();
  keys_.set(std::move(ring));
  return true;
}

void SluiceServer::apply_live_settings(const ServerSettings& next) {
  broker_->set_max_topics(next.max_topics);
  max_connections_.store(next.max_connections, std::memory_order_relaxed);
  upgrade_gate_->set_allowed_origins(next.allowed_origins);
  ApiLimits rates;
  rates.rate_per_second = next.rate_limit;
  rates.rate_burst = next.rate_burst;
  rates.key_rate_per_second = next.key_rate_limit;
  rates.key_rate_burst = next.key_rate_burst;
  api_->set_rate_limits(rates);
  broker_->set_history_policy(next.history_policy());
  connections_per_ip_->set_max_per_key(next.max_connections_per_ip);
  new_connections_per_ip_->reconfigure({next.new_connections_per_ip_per_second, next.new_connections_per_ip_burst});
  if (webhooks_) {
    std::string error;  // `next` was validated: the ranges parse
    if (!webhooks_->set_allowlist(next.webhook.allow, error)) spdlog::error("webhook-allow not applied: {}", error);
  }
}

bool SluiceServer::loops_answer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::future<void>> answers;
  for (std::size_t i = 0; i < loops_->size(); ++i) {
    // Shared: a loop that answers after the deadline still finds its promise.
    auto answer = std::make_shared<std::promise<void>>();
    answers.push_back(answer->get_future());
    loops_->at(i).post([answer] { answer->set_value(); });
  }
  return std::all_of(answers.begin(), answers.end(), [&](std::future<void>& answer) {
    return answer.wait_until(deadline) == std::future_status::ready;
  });
}

std::vector<std::uint64_t> SluiceServer::connection_ids() {
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < loops_->size(); ++i) {
    std::promise<std::vector<std::uint64_t>> answer;
    loops_->at(i).post([state = states_[i].get(), &answer] {
      std::vector<std::uint64_t> local;
      for (const auto& [id, session] : state->sessions) local.push_back(id);
      for (const auto& [id, session] : state->centrifugo_sessions) local.push_back(id);
      answer.set_value(std::move(local));
    });
    auto local = answer.get_future().get();
    ids.insert(ids.end(), local.begin(), local.end());
  }
  return ids;
}

void SluiceServer::shutdown(std::chrono::milliseconds drain) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    if (!running_) return;
  }
  // 1. Stop accepting, on the listener's own loop.
  std::promise<void> stopped;
  loops_->at(0).post([this, &stopped] {
    listener_->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  // 2. Every connection is asked to close with 1001 by its owning loop.
  for (std::size_t i = 0; i < loops_->size(); ++i) {
    loops_->at(i).post([state = states_[i].get()] {
      state->for_each_session([](InbandSession& session) { session.close(1001, "server shutting down"); });
      std::vector<std::shared_ptr<centrifugo::Session>> centrifugo;
      for (auto& [id, session] : state->centrifugo_sessions) centrifugo.push_back(session);
      for (auto& session : centrifugo) session->close(1001, "server shutting down");  // 3001 shutdown
    });
  }
  // 3. Let queues drain and close handshakes finish, up to the deadline.
  {
    std::unique_lock lock(mutex_);
    drained_.wait_for(lock, drain, [this] { return connections_.load() == 0; });
  }
  // 3b. Past the deadline: whoever is still connected is cut off by its own
  //     loop, so no socket outlives shutdown().
  if (connections_.load() > 0) {
    std::vector<std::promise<void>> done(loops_->size());
    for (std::size_t i = 0; i < loops_->size(); ++i) {
      loops_->at(i).post([state = states_[i].get(), &done, i] {
        state->for_each_session([](InbandSession& session) { session.abort(); });
        std::vector<std::shared_ptr<centrifugo::Session>> centrifugo;
        for (auto& [id, session] : state->centrifugo_sessions) centrifugo.push_back(session);
        for (auto& session : centrifugo) session->abort();
        done[i].set_value();
      });
    }
    for (auto& d : done) d.get_future().wait();
    // Each abort posts its on_closed; let the still-running loops deliver them.
    std::unique_lock lock(mutex_);
    drained_.wait_for(lock, std::chrono::seconds(2), [this] { return connections_.load() == 0; });
  }
  // 4. Flush durable state: whatever was submitted is written before we go.
  if (shared_) shared_->disarm();
  if (webhooks_) webhooks_->stop();  // in-flight webhook requests abandoned (redelivered after a restart)
  if (retention_) retention_->stop();
  if (subscription_store_) subscription_store_->stop();  // writes the creates and deletes it was given
  if (log_) log_->stop();
  if (engine_) engine_->stop();  // answers the publishes Redis still owes, then disconnects
  // 5. Stop the loops; what is left is freed with them, from this thread.
  loops_->stop();
  for (auto& state : states_) {
    for (auto& [id, session] : state->sessions) session.on_closed();
    state->sessions.clear();
    for (auto& [id, session] : state->centrifugo_sessions) session->on_closed();
    state->centrifugo_sessions.clear();
  }
}

}  // namespace sluice::server
