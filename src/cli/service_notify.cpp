#include "cli/service_notify.hpp"

#ifdef SLUICE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace sluice::cli {

#ifdef SLUICE_HAVE_SYSTEMD

bool service_notify_available() noexcept { return true; }

bool notify_service(const std::string& state) noexcept {
  // unset_environment = 0: the drain and the watchdog thread still need NOTIFY_SOCKET.
  return sd_notify(0, state.c_str()) > 0;
}

std::chrono::microseconds service_watchdog_period() noexcept {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec / 2);  // systemd's advice: ping at half the timeout
}

#else

bool service_notify_available() noexcept { return false; }
bool notify_service(const std::string&) noexcept { return false; }
std::chrono::microseconds service_watchdog_period() noexcept { return std::chrono::microseconds(0); }

#endif

}  // namespace sluice::cli
