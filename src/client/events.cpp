#include "sluice/client/events.hpp"

namespace sluice::client {

const char* to_string(State s) noexcept {
  switch (s) {
    case State::idle: return "idle";
    case State::connecting: return "connecting";
    case State::open: return "open";
    case State::closing: return "closing";
    case State::reconnecting: return "reconnecting";
    case State::closed: return "closed";
  }
  return "unknown";
}

const char* to_string(SendStatus s) noexcept {
  switch (s) {
    case SendStatus::sent: return "sent";
    case SendStatus::queued: return "queued";
    case SendStatus::queue_full: return "queue full";
    case SendStatus::too_large: return "too large for the queue";
    case SendStatus::not_connected: return "not connected";
    case SendStatus::closed: return "closed";
  }
  return "unknown";
}

}  // namespace sluice::client
