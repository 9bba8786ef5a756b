// The opening handshake: Beast parses the HTTP head, the RFC 6455 §4 and
// RFC 7692 §7.1 rules on top are here. Free functions are pure (thread-safe);
// ServerHandshake / ClientHandshake objects belong to one connection each.
#include "sluice/protocol/handshake.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <limits>
#include <stdexcept>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "protocol/extension_header.hpp"
#include "sluice/protocol/error.hpp"
#include "sluice/util/ascii.hpp"

namespace sluice::protocol {
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view kDeflateName = "permessage-deflate";
constexpr int kMaxWindowBits = 15;

std::string base64(const unsigned char* data, std::size_t size) {
  // EVP_EncodeBlock writes a terminating NUL after the 4*ceil(n/3) characters.
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// A Sec-WebSocket-Key must be base64 of exactly 16 bytes: 22 characters and "==".
bool is_valid_key(std::string_view key) noexcept {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

// Calls f(item) for each element of a comma-separated header list, trimmed of
// whitespace; empty elements are skipped (RFC 7230 §7).
template <class F>
void for_each_list_item(std::string_view list, F&& f) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) f(item);
  }
}

// True if any instance of header `name` lists `token` (case-insensitively).
bool has_token(const http::fields& fields, http::field name, std::string_view token) {
  bool found = false;
  auto [first, last] = fields.equal_range(name);
  for (auto it = first; it != last; ++it) {
    for_each_list_item(std::string_view(it->value()), [&](std::string_view item) {
      found = found || ascii_iequals(item, token);
    });
  }
  return found;
}

// The value of a header that must appear exactly once; nullopt if absent or repeated.
std::optional<std::string_view> single_value(const http::fields& fields, http::field name) {
  auto [first, last] = fields.equal_range(name);
  if (first == last || std::next(first) != last) return std::nullopt;
  return std::string_view(first->value());
}

// All Sec-WebSocket-Extensions elements of a message; false if one is malformed.
bool collect_extensions(const http::fields& fields, std::vector<detail::Extension>& out) {
  auto [first, last] = fields.equal_range(http::field::sec_websocket_extensions);
  for (auto it = first; it != last; ++it) {
    if (!detail::parse_extensions(std::string_view(it->value()), out)) return false;
  }
  return true;
}

std::string error_response(Error error) {
  const unsigned status = http_status_for(error);
  const std::string body = make_error_code(error).message() + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\r\n";
  if (error == Error::bad_method) out += "Allow: GET\r\n";
  if (error == Error::bad_websocket_version) out += "Sec-WebSocket-Version: 13\r\n";
  out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
  return out;
}

UpgradeDecision rejection(Error error) {
  UpgradeDecision decision;
  decision.error = make_error_code(error);
  decision.response = error_response(error);
  return decision;
}

// RFC 6455 §4.2.1 checks, in the order the error values are documented.
std::optional<Error> check_request(const http::request_header<>& request,
                                   const ServerHandshakeOptions& options) {
  if (request.method() != http::verb::get) return Error::bad_method;
  if (request.version() < 11) return Error::bad_http_version;
  if (request.count(http::field::host) == 0) return Error::missing_host;
  if (!has_token(request, http::field::upgrade, "websocket")) return Error::missing_upgrade;
  if (!has_token(request, http::field::connection, "upgrade")) {
    return Error::missing_connection_upgrade;
  }
  const auto version = single_value(request, http::field::sec_websocket_version);
  if (!version || *version != "13") return Error::bad_websocket_version;
  const auto key = single_value(request, http::field::sec_websocket_key);
  if (!key || !is_valid_key(*key)) return Error::bad_websocket_key;
  if (options.origin_check) {
    const auto origin = request.find(http::field::origin);
    const std::string_view value =
        origin == request.end() ? std::string_view{} : std::string_view(origin->value());
    if (!options.origin_check(value)) return Error::origin_rejected;
  }
  return std::nullopt;
}

// The first of the server's subprotocols that the client offered, or "".
std::string select_subprotocol(const http::fields& request, const std::vector<std::string>& ours) {
  std::vector<std::string_view> offered;
  auto [first, last] = request.equal_range(http::field::sec_websocket_protocol);
  for (auto it = first; it != last; ++it) {
    for_each_list_item(std::string_view(it->value()),
                       [&](std::string_view item) { offered.push_back(item); });
  }
  for (const std::string& candidate : ours) {
    if (std::find(offered.begin(), offered.end(), candidate) != offered.end()) return candidate;
  }
  return {};
}

// Accepts the first acceptable permessage-deflate offer (RFC 7692 §7.1) and
// writes the matching response element to `response`.
std::optional<DeflateParams> negotiate_deflate(const std::vector<detail::Extension>& offers,
                                               const DeflateOptions& options,
                                               std::string& response) {
  if (!options.enabled) return std::nullopt;
  // Out-of-range options are a configuration error caught elsewhere; never agree to them.
  const int our_server_bits = std::clamp(options.server_max_window_bits, 9, kMaxWindowBits);
  const int our_client_bits = std::clamp(options.client_max_window_bits, 9, kMaxWindowBits);
  for (const detail::Extension& offer : offers) {
    if (!ascii_iequals(offer.name, kDeflateName)) continue;
    const auto set = detail::parse_deflate_params(offer.params);
    if (!set) continue;  // declined: unknown, repeated or invalid parameter
    // zlib cannot produce raw deflate with an 8-bit window, so we cannot honour it.
    if (set->server_max_window_bits == 8) continue;

    DeflateParams agreed;
    agreed.server_no_context_takeover =
        set->server_no_context_takeover || options.server_no_context_takeover;
    agreed.client_no_context_takeover =
        set->client_no_context_takeover || options.client_no_context_takeover;
    agreed.server_max_window_bits =
        std::min(set->server_max_window_bits.value_or(kMaxWindowBits), our_server_bits);
    // Without client_max_window_bits in the offer we may not limit the client (§7.1.2.2).
    agreed.client_max_window_bits =
        set->has_client_max_window_bits
            ? std::min(set->client_max_window_bits.value_or(kMaxWindowBits), our_client_bits)
            : kMaxWindowBits;

    response = kDeflateName;
    if (agreed.server_no_context_takeover) response += "; server_no_context_takeover";
    if (agreed.client_no_context_takeover) response += "; client_no_context_takeover";
    // §7.1.2.1 lets the server send server_max_window_bits even when not offered.
    if (set->server_max_window_bits || agreed.server_max_window_bits < kMaxWindowBits) {
      response += "; server_max_window_bits=" + std::to_string(agreed.server_max_window_bits);
    }
    if (set->has_client_max_window_bits) {
      response += "; client_max_window_bits=" + std::to_string(agreed.client_max_window_bits);
    }
    return agreed;
  }
  return std::nullopt;
}

// The offer a client sends for `options` (which must be enabled).
std::string deflate_offer(const DeflateOptions& options) {
  const int server_bits = std::clamp(options.server_max_window_bits, 9, kMaxWindowBits);
  const int client_bits = std::clamp(options.client_max_window_bits, 9, kMaxWindowBits);
  std::string offer(kDeflateName);
  // Always offered: it tells the server we can limit our window if it asks.
  offer += "; client_max_window_bits";
  if (client_bits < kMaxWindowBits) offer += "=" + std::to_string(client_bits);
  if (server_bits < kMaxWindowBits) {
    offer += "; server_max_window_bits=" + std::to_string(server_bits);
  }
  if (options.server_no_context_takeover) offer += "; server_no_context_takeover";
  if (options.client_no_context_takeover) offer += "; client_no_context_takeover";
  return offer;
}

// Checks the server's Sec-WebSocket-Extensions against what deflate_offer() sent.
std::optional<Error> check_response_extensions(const http::fields& response,
                                               const DeflateOptions& options,
                                               std::optional<DeflateParams>& agreed) {
  std::vector<detail::Extension> extensions;
  if (!collect_extensions(response, extensions)) return Error::unexpected_extension;
  const int asked_server_bits = std::clamp(options.server_max_window_bits, 9, kMaxWindowBits);
  const int offered_client_bits = std::clamp(options.client_max_window_bits, 9, kMaxWindowBits);
  for (const detail::Extension& extension : extensions) {
    // Only permessage-deflate was offered, and only once.
    if (!options.enabled || agreed || !ascii_iequals(extension.name, kDeflateName)) {
      return Error::unexpected_extension;
    }
    const auto set = detail::parse_deflate_params(extension.params);
    if (!set) return Error::unexpected_extension;
    // Absent means 15, which is too large when we asked for less.
    const int server_bits = set->server_max_window_bits.value_or(kMaxWindowBits);
    if (server_bits > asked_server_bits) return Error::unexpected_extension;
    int client_bits = offered_client_bits;
    if (set->has_client_max_window_bits) {
      // We always offer it; the answer needs a value we can compress with (not 8).
      const auto bits = set->client_max_window_bits;
      if (!bits || *bits == 8 || *bits > offered_client_bits) return Error::unexpected_extension;
      client_bits = *bits;
    }
    DeflateParams params;
    params.server_no_context_takeover = set->server_no_context_takeover;
    // Having offered client_no_context_takeover, we keep to it whatever the answer.
    params.client_no_context_takeover =
        set->client_no_context_takeover || options.client_no_context_takeover;
    params.server_max_window_bits = server_bits;
    params.client_max_window_bits = client_bits;
    agreed = params;
  }
  return std::nullopt;
}

// The response may select at most one subprotocol, and only one we offered.
std::optional<Error> check_response_subprotocol(const http::fields& response,
                                                const std::vector<std::string>& offered,
                                                std::string& selected) {
  auto [first, last] = response.equal_range(http::field::sec_websocket_protocol);
  if (first == last) return std::nullopt;
  const std::string_view value = first->value();
  if (std::next(first) != last ||
      std::find(offered.begin(), offered.end(), value) == offered.end()) {
    return Error::unexpected_subprotocol;
  }
  selected = value;
  return std::nullopt;
}

std::optional<Error> check_response(const http::response_header<>& response,
                                    const ClientHandshakeOptions& options, const std::string& key,
                                    std::string& subprotocol,
                                    std::optional<DeflateParams>& deflate) {
  if (response.result_int() != 101) return Error::handshake_rejected;
  if (!has_token(response, http::field::upgrade, "websocket") ||
      !has_token(response, http::field::connection, "upgrade")) {
    return Error::bad_http_response;
  }
  const auto accept = single_value(response, http::field::sec_websocket_accept);
  if (!accept || *accept != compute_accept_key(key)) return Error::bad_accept_key;
  if (auto error = check_response_extensions(response, options.deflate, deflate)) return error;
  return check_response_subprotocol(response, options.subprotocols, subprotocol);
}

std::string build_request(const ClientHandshakeOptions& options, const std::string& key) {
  std::string out = "GET " + (options.target.empty() ? std::string("/") : options.target) +
                    " HTTP/1.1\r\nHost: " + options.host +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                    "\r\nSec-WebSocket-Version: 13\r\n";
  if (!options.origin.empty()) out += "Origin: " + options.origin + "\r\n";
  if (!options.subprotocols.empty()) {
    out += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < options.subprotocols.size(); ++i) {
      if (i > 0) out += ", ";
      out += options.subprotocols[i];
    }
    out += "\r\n";
  }
  if (options.deflate.enabled) {
    out += "Sec-WebSocket-Extensions: " + deflate_offer(options.deflate) + "\r\n";
  }
  for (const auto& [name, value] : options.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  return out;
}

std::uint32_t beast_header_limit(std::size_t max_header_bytes) {
  return static_cast<std::uint32_t>(
      std::min<std::size_t>(max_header_bytes, std::numeric_limits<std::uint32_t>::max()));
}

enum class HeadResult { need_more, done, too_large, malformed };

// Runs `parser` over the unparsed tail of `buffer`, advancing `parsed`. Beast
// consumes complete lines as it goes and checks its header limit per call
// only, so the limit on the whole head is enforced here.
template <bool isRequest>
HeadResult parse_head(http::parser<isRequest, http::empty_body>& parser, const std::string& buffer,
                      std::size_t& parsed, std::size_t limit) {
  boost::beast::error_code ec;
  parsed += parser.put(boost::asio::buffer(buffer.data() + parsed, buffer.size() - parsed), ec);
  if (ec == http::error::need_more) {
    // Until the head is complete, all of `buffer` belongs to it.
    return buffer.size() > limit ? HeadResult::too_large : HeadResult::need_more;
  }
  if (ec == http::error::header_limit) return HeadResult::too_large;
  if (ec) return HeadResult::malformed;
  if (!parser.is_header_done()) return HeadResult::need_more;  // not expected; be safe
  return parsed > limit ? HeadResult::too_large : HeadResult::done;
}

}  // namespace

namespace {
// OpenSSL 3's SHA1() looks the algorithm up in its providers (a locked
// lookup) and allocates a digest context on every call; fetched once per
// process, with one context per thread, a handshake's hash allocates nothing.
struct Sha1 {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  ~Sha1() { EVP_MD_free(md); }
};
struct DigestContext {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(context); }
};

bool sha1_of_key(std::string_view key, std::array<unsigned char, SHA_DIGEST_LENGTH>& digest) {
  static const Sha1 sha1;
  thread_local DigestContext digest_context;
  EVP_MD_CTX* c = digest_context.context;
  unsigned int length = 0;
  return sha1.md && c && EVP_DigestInit_ex2(c, sha1.md, nullptr) == 1 &&
         EVP_DigestUpdate(c, key.data(), key.size()) == 1 &&
         EVP_DigestUpdate(c, kWebSocketGuid.data(), kWebSocketGuid.size()) == 1 &&
         EVP_DigestFinal_ex(c, digest.data(), &length) == 1 && length == digest.size();
}
}  // namespace

std::string compute_accept_key(std::string_view key) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  if (!sha1_of_key(key, digest)) {
    // Only if the provider has no SHA-1 (never with the default one): the one-shot call.
    std::string input(key);
    input += kWebSocketGuid;
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  }
  return base64(digest.data(), digest.size());
}

std::string generate_websocket_key() {
  std::array<unsigned char, 16> nonce{};
  // Fails only when the CSPRNG cannot be seeded; a predictable key is not an option.
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed to generate a Sec-WebSocket-Key");
  }
  return base64(nonce.data(), nonce.size());
}

bool is_websocket_upgrade(const http::request_header<>& request) {
  return has_token(request, http::field::upgrade, "websocket");
}

UpgradeDecision accept_upgrade(const http::request_header<>& request,
                               const ServerHandshakeOptions& options) {
  if (const auto error = check_request(request, options)) return rejection(*error);
  std::vector<detail::Extension> offers;
  if (!collect_extensions(request, offers)) return rejection(Error::bad_extension_offer);

  UpgradeDecision decision;
  decision.subprotocol = select_subprotocol(request, options.subprotocols);
  std::string extension_response;
  decision.deflate = negotiate_deflate(offers, options.deflate, extension_response);

  std::string& out = decision.response;
  out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  out += "Sec-WebSocket-Accept: " +
         compute_accept_key(*single_value(request, http::field::sec_websocket_key)) + "\r\n";
  if (!decision.subprotocol.empty()) {
    out += "Sec-WebSocket-Protocol: " + decision.subprotocol + "\r\n";
  }
  if (decision.deflate) out += "Sec-WebSocket-Extensions: " + extension_response + "\r\n";
  out += "\r\n";
  return decision;
}

ServerHandshake::ServerHandshake(const ServerHandshakeOptions& options) : options_(options) {
  parser_.header_limit(beast_header_limit(options_.max_header_bytes));
}

HandshakeStatus ServerHandshake::feed(std::span<const char> data) {
  if (status_ == HandshakeStatus::accepted) buffer_.append(data.data(), data.size());
  if (status_ != HandshakeStatus::need_more) return status_;
  buffer_.append(data.data(), data.size());

  switch (parse_head(parser_, buffer_, head_size_, options_.max_header_bytes)) {
    case HeadResult::need_more:
      return status_;
    case HeadResult::too_large:
      decision_ = rejection(Error::header_too_large);
      break;
    case HeadResult::malformed:
      decision_ = rejection(Error::bad_http_request);
      break;
    case HeadResult::done:
      // An upgrade request has no body; one would be mistaken for frames.
      if (parser_.chunked() || parser_.content_length().value_or(0) > 0) {
        decision_ = rejection(Error::bad_http_request);
      } else {
        decision_ = accept_upgrade(request(), options_);
      }
      break;
  }
  status_ = decision_.error ? HandshakeStatus::rejected : HandshakeStatus::accepted;
  return status_;
}

std::string_view ServerHandshake::leftover() const noexcept {
  if (!parser_.is_header_done()) return {};
  return std::string_view(buffer_).substr(head_size_);
}

bool is_http_token(std::string_view text) noexcept {
  // ASCII by hand: std::isalnum follows the locale, where bytes >= 0x80 may pass.
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool breaks_header_line(std::string_view text) noexcept {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool has_space_or_control(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

std::error_code check_request_options(const ClientHandshakeOptions& options) {
  // Host and target go into the request line and Host: no space or control byte at all.
  bool bad = has_space_or_control(options.host) || has_space_or_control(options.target) ||
             breaks_header_line(options.origin);
  for (const auto& protocol : options.subprotocols) bad = bad || !is_http_token(protocol);
  for (const auto& [name, value] : options.headers) bad = bad || !is_http_token(name) || breaks_header_line(value);
  return bad ? make_error_code(Error::bad_request_option) : std::error_code();
}

ClientHandshake::ClientHandshake(ClientHandshakeOptions options)
    : options_(std::move(options)), key_(generate_websocket_key()) {
  parser_.header_limit(beast_header_limit(options_.max_header_bytes));
  if (auto error = check_request_options(options_)) {
    error_ = error;
    status_ = HandshakeStatus::rejected;
    return;
  }
  request_ = build_request(options_, key_);
}

HandshakeStatus ClientHandshake::feed(std::span<const char> data) {
  if (status_ == HandshakeStatus::accepted) buffer_.append(data.data(), data.size());
  if (status_ != HandshakeStatus::need_more) return status_;
  buffer_.append(data.data(), data.size());

  std::optional<Error> error;
  switch (parse_head(parser_, buffer_, head_size_, options_.max_header_bytes)) {
    case HeadResult::need_more:
      return status_;
    case HeadResult::too_large:
      error = Error::header_too_large;
      break;
    case HeadResult::malformed:
      error = Error::bad_http_response;
      break;
    case HeadResult::done:
      error = check_response(response(), options_, key_, subprotocol_, deflate_);
      break;
  }
  if (error) {
    error_ = make_error_code(*error);
    subprotocol_.clear();
    deflate_.reset();
    status_ = HandshakeStatus::rejected;
  } else {
    status_ = HandshakeStatus::accepted;
  }
  return status_;
}

std::string_view ClientHandshake::leftover() const noexcept {
  if (!parser_.is_header_done()) return {};
  return std::string_view(buffer_).substr(head_size_);
}

}  // namespace sluice::protocol
