// ClientCore: the connection pool behind HttpClient (see http_client_detail.hpp).
#include "http_client_detail.hpp"

namespace sluice::webhook::detail {

ClientCore::ClientCore(asio::io_context& io, HttpClientOptions options, std::shared_ptr<asio::ssl::context> tls)
    : io_(io), options_(std::move(options)), tls_(std::move(tls)) {}

std::shared_ptr<Exchange> ClientCore::make_exchange(HttpRequest request, HttpClient::Callback callback) {
  const std::uint64_t id = next_id_++;
  auto ex = std::make_shared<Exchange>(shared_from_this(), id, std::move(request), std::move(callback));
  live_.emplace(id, ex);
  return ex;
}

std::size_t ClientCore::idle_connections() const noexcept {
  std::size_t n = 0;
  for (const auto& [origin, host] : hosts_) n += host.idle.size();
  return n;
}

void ClientCore::acquire(const std::shared_ptr<Exchange>& ex) {
  if (shut_down_) {
    HttpResult r;
    r.kind = HttpResult::Kind::cancelled;
    r.error = "the webhook client was shut down";
    return ex->finish(std::move(r));
  }
  if (try_start(ex)) return;
  if (waiting_.size() >= options_.max_waiting) {
    HttpResult r;
    r.kind = HttpResult::Kind::connection_error;
    r.error = "too many webhook requests are waiting for a connection (max_waiting " +
              std::to_string(options_.max_waiting) + ")";
    return ex->finish(std::move(r));
  }
  waiting_.push_back(ex);
  ex->waiting_position = std::prev(waiting_.end());
}

bool ClientCore::try_start(const std::shared_ptr<Exchange>& ex) {
  auto it = hosts_.try_emplace(ex->origin()).first;
  Host& host = it->second;
  if (!host.idle.empty()) {
    auto conn = std::move(host.idle.back());
    host.idle.pop_back();
    ex->use_idle(std::move(conn));
    return true;
  }
  if (host.open >= options_.max_connections_per_host ||
      (open_total_ >= options_.max_connections && !evict_idle_elsewhere(ex->origin()))) {
    if (host.open == 0) hosts_.erase(it);  // keep the map as small as what is open
    return false;
  }
  ++host.open;
  ++open_total_;
  ex->use_new(std::make_shared<Connection>(io_, ex->origin()));
  return true;
}

bool ClientCore::evict_idle_elsewhere(const std::string& origin) {
  std::shared_ptr<Connection> oldest;
  for (const auto& [name, host] : hosts_) {
    if (name == origin || host.idle.empty()) continue;
    const auto& candidate = host.idle.front();  // idle vectors are oldest first
    if (!oldest || candidate->idle_since < oldest->idle_since) oldest = candidate;
  }
  if (!oldest) return false;
  // Not discard(): that would pump, and a waiter could take the slot freed for the caller.
  remove_idle(oldest);
  oldest->counted = false;
  oldest->close();
  auto it = hosts_.find(oldest->origin());
  if (it != hosts_.end() && --it->second.open == 0 && it->second.idle.empty()) hosts_.erase(it);
  --open_total_;
  return true;
}

void ClientCore::release(const std::shared_ptr<Connection>& conn, bool reusable) {
  // The guard may have changed since this connection was made (a reload): not kept if it now refuses it.
  reusable = reusable && options_.address_policy.permits(conn->peer.address());
  if (!reusable || shut_down_ || options_.idle_timeout.count() == 0) return discard(conn);
  // The first waiter for the same origin takes it over (FIFO).
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->origin() != conn->origin()) continue;
    auto ex = std::move(*it);
    waiting_.erase(it);
    ex->waiting_position.reset();
    ex->use_idle(conn);
    return;
  }
  park_idle(conn);
  pump();  // a waiter for another origin may now take this slot (by evicting it)
}

void ClientCore::park_idle(const std::shared_ptr<Connection>& conn) {
  hosts_[conn->origin()].idle.push_back(conn);
  conn->idle_since = std::chrono::steady_clock::now();
  const std::uint64_t generation = conn->generation;
  // Both watchers drop the connection unless it was claimed (generation moved
  // on) or closed meanwhile: readable while idle means the peer closed it or
  // sent something unasked; either way it is unusable.
  auto drop = [self = shared_from_this(), conn, generation](const boost::system::error_code&) {
    if (conn->generation != generation || !conn->counted) return;
    self->discard(conn);
  };
  conn->socket().async_wait(tcp::socket::wait_read, drop);
  conn->idle_timer().expires_after(options_.idle_timeout);
  conn->idle_timer().async_wait(drop);
}

void ClientCore::remove_idle(const std::shared_ptr<Connection>& conn) {
  auto it = hosts_.find(conn->origin());
  if (it == hosts_.end()) return;
  auto& idle = it->second.idle;
  std::erase(idle, conn);
}

void ClientCore::discard(const std::shared_ptr<Connection>& conn) {
  if (!conn->counted) return;
  conn->counted = false;
  conn->close();
  auto it = hosts_.find(conn->origin());
  if (it != hosts_.end()) {
    std::erase(it->second.idle, conn);
    if (--it->second.open == 0 && it->second.idle.empty()) hosts_.erase(it);
  }
  --open_total_;
  pump();
}

void ClientCore::drop_idle(const std::string& origin) {
  auto it = hosts_.find(origin);
  if (it == hosts_.end()) return;
  const auto idle = it->second.idle;  // discard() edits the vector
  for (const auto& conn : idle) discard(conn);
}

void ClientCore::set_address_policy(AddressPolicy policy) {
  options_.address_policy = std::move(policy);
  std::vector<std::shared_ptr<Connection>> refused;
  for (const auto& [origin, host] : hosts_) {
    for (const auto& conn : host.idle) {
      if (!options_.address_policy.permits(conn->peer.address())) refused.push_back(conn);
    }
  }
  for (const auto& conn : refused) discard(conn);  // discard() edits the idle vectors
}

void ClientCore::forget_waiting(Exchange& ex) {
  if (!ex.waiting_position) return;
  waiting_.erase(*ex.waiting_position);
  ex.waiting_position.reset();
}

void ClientCore::pump() {
  if (pumping_ || shut_down_) return;  // the outer pump() sees what changed; nothing starts after shutdown
  pumping_ = true;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    auto ex = *it;
    auto host = hosts_.find(ex->origin());
    const bool has_idle = host != hosts_.end() && !host->second.idle.empty();
    const bool host_room = host == hosts_.end() || host->second.open < options_.max_connections_per_host;
    const bool total_room = open_total_ < options_.max_connections || idle_connections() > 0;
    if (!has_idle && !(host_room && total_room)) {
      ++it;
      continue;
    }
    it = waiting_.erase(it);
    ex->waiting_position.reset();
    if (!try_start(ex)) {  // cannot happen after the checks above; never lose a request
      waiting_.insert(it, ex);
      ex->waiting_position = std::prev(it);
    }
  }
  pumping_ = false;
}

void ClientCore::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<std::shared_ptr<Exchange>> running;
  for (const auto& [id, weak] : live_) {
    if (auto ex = weak.lock()) running.push_back(std::move(ex));
  }
  for (const auto& ex : running) {
    HttpResult r;
    r.kind = HttpResult::Kind::cancelled;
    r.error = "the webhook client was shut down";
    ex->finish(std::move(r));
  }
  std::vector<std::shared_ptr<Connection>> idle;
  for (const auto& [origin, host] : hosts_) idle.insert(idle.end(), host.idle.begin(), host.idle.end());
  for (const auto& conn : idle) discard(conn);
}

}  // namespace sluice::webhook::detail
