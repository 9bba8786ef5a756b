// Talks to a service manager that started `sluice serve` (systemd with
// Type=notify): READY=1 once the server listens, STOPPING=1 when it starts
// to drain, WATCHDOG=1 while its event loops answer, STATUS= lines.
// Built on libsystemd's sd_notify when CMake found it (SLUICE_HAVE_SYSTEMD);
// otherwise, and when not started by one (no NOTIFY_SOCKET), it does nothing.
#pragma once

#include <chrono>
#include <string>

namespace sluice::cli {

/// True when built with libsystemd (the other calls do something).
bool service_notify_available() noexcept;

/// Sends `state` ("READY=1\nSTATUS=...": newline-separated assignments) to the
/// service manager. Returns true if one was told. Thread-safe, never throws.
bool notify_service(const std::string& state) noexcept;

/// How often the manager expects WATCHDOG=1 (WatchdogSec=, already halved
/// for safety), or zero when it does not watch this process. Thread-safe.
std::chrono::microseconds service_watchdog_period() noexcept;

}  // namespace sluice::cli
