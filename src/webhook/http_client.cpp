#include "sluice/webhook/http_client.hpp"

#include <boost/asio/ssl/context.hpp>

#include "http_client_detail.hpp"

namespace sluice::webhook {

std::string HttpClientOptions::validate() const {
  if (connect_timeout.count() < 1) return "webhook connect timeout must be at least 1 ms";
  if (total_timeout.count() < 1) return "webhook total timeout must be at least 1 ms";
  if (max_connections < 1) return "webhook max connections must be at least 1";
  if (max_connections_per_host < 1) return "webhook max connections per host must be at least 1";
  if (idle_timeout.count() < 0) return "webhook idle timeout must not be negative";
  return "";
}

std::string_view to_string(HttpResult::Kind kind) noexcept {
  switch (kind) {
    case HttpResult::Kind::response: return "response";
    case HttpResult::Kind::connection_error: return "connection_error";
    case HttpResult::Kind::timeout: return "timeout";
    case HttpResult::Kind::forbidden_address: return "forbidden_address";
    case HttpResult::Kind::cancelled: return "cancelled";
    case HttpResult::Kind::invalid_request: return "invalid_request";
  }
  return "connection_error";
}

AttemptOutcome HttpResult::outcome() const {
  AttemptOutcome o;
  switch (kind) {
    case Kind::response:
      o.kind = AttemptOutcome::Kind::response;
      o.status = status;
      o.retry_after = retry_after;
      break;
    case Kind::timeout: o.kind = AttemptOutcome::Kind::timeout; break;
    case Kind::forbidden_address: o.kind = AttemptOutcome::Kind::forbidden_address; break;
    case Kind::connection_error:
    case Kind::cancelled:
    case Kind::invalid_request: o.kind = AttemptOutcome::Kind::connection_error; break;
  }
  return o;
}

void RequestHandle::cancel() {
  auto ex = exchange_.lock();
  if (!ex || ex->finished()) return;
  HttpResult r;
  r.kind = HttpResult::Kind::cancelled;
  r.error = "cancelled";
  ex->finish(std::move(r));
}

bool RequestHandle::active() const {
  auto ex = exchange_.lock();
  return ex && !ex->finished();
}

std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& extra_ca_file,
                                                                   std::string& error) {
  namespace ssl = boost::asio::ssl;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (!ec) tls->set_default_verify_paths(ec);
  if (ec) {
    error = "cannot load the system's TLS trust store: " + ec.message();
    return nullptr;
  }
  if (!extra_ca_file.empty()) {
    tls->load_verify_file(extra_ca_file, ec);  // added to the system's, not instead
    if (ec) {
      error = "cannot load the webhook CA file '" + extra_ca_file + "': " + ec.message();
      return nullptr;
    }
  }
  tls->set_verify_mode(ssl::verify_peer);
  return tls;
}

std::unique_ptr<HttpClient> HttpClient::create(boost::asio::io_context& io, HttpClientOptions options,
                                               std::string& error) {
  error = options.validate();
  if (!error.empty()) return nullptr;
  auto tls = options.tls ? options.tls : make_client_tls_context(options.extra_ca_file, error);
  if (!tls) return nullptr;
  auto core = std::make_shared<detail::ClientCore>(io, std::move(options), std::move(tls));
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(core)));
}

HttpClient::~HttpClient() { core_->shutdown(); }

RequestHandle HttpClient::post(HttpRequest request, Callback callback) {
  auto ex = core_->make_exchange(std::move(request), std::move(callback));
  ex->start();
  return RequestHandle(ex);
}

void HttpClient::set_address_policy(AddressPolicy policy) { core_->set_address_policy(std::move(policy)); }

std::size_t HttpClient::open_connections() const noexcept { return core_->open_connections(); }
std::size_t HttpClient::idle_connections() const noexcept { return core_->idle_connections(); }
std::size_t HttpClient::waiting_requests() const noexcept { return core_->waiting_requests(); }

}  // namespace sluice::webhook
