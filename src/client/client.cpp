#include "sluice/client/client.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "client/core.hpp"

namespace sluice::client {

Client::Client(std::string_view url, ClientOptions options)
    : core_(std::make_unique<detail::Core>(url, std::move(options))) {}

Client::~Client() = default;  // Core's destructor closes and joins

void Client::connect() { core_->connect(); }

SendStatus Client::send(MessageType type, std::span<const std::uint8_t> payload) { return core_->send(type, payload); }

SendStatus Client::send_text(std::string_view text) {
  return core_->send(MessageType::text, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

SendStatus Client::send_binary(std::span<const std::uint8_t> data) { return core_->send(MessageType::binary, data); }

SendStatus Client::send_json(const boost::json::value& value) { return send_text(boost::json::serialize(value)); }

void Client::close(std::uint16_t code, std::string_view reason) { core_->close(code, reason); }

bool Client::flush(std::chrono::milliseconds timeout) { return core_->flush(timeout); }

State Client::state() const noexcept { return core_->state(); }
ConnectionInfo Client::info() const { return core_->info(); }
std::size_t Client::queued_bytes() const { return core_->queued_bytes(); }
const net::WsUrl& Client::url() const noexcept { return core_->url(); }
bool Client::set_target(std::string_view target) { return core_->set_target(target); }

ListenerId Client::on_open(Listeners::OpenFn fn, Listen mode) {
  return core_->listeners.add(core_->listeners.open, std::move(fn), mode);
}
ListenerId Client::on_message(Listeners::MessageFn fn, Listen mode) {
  return core_->listeners.add(core_->listeners.message, std::move(fn), mode);
}
ListenerId Client::on_close(Listeners::CloseFn fn, Listen mode) {
  return core_->listeners.add(core_->listeners.close, std::move(fn), mode);
}
ListenerId Client::on_reconnecting(Listeners::ReconnectingFn fn, Listen mode) {
  return core_->listeners.add(core_->listeners.reconnecting, std::move(fn), mode);
}
ListenerId Client::on_error(Listeners::ErrorFn fn, Listen mode) {
  return core_->listeners.add(core_->listeners.error, std::move(fn), mode);
}
bool Client::remove_listener(ListenerId id) { return core_->listeners.remove(id); }

}  // namespace sluice::client
