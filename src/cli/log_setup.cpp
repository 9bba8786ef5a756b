#include "cli/log_setup.hpp"

#include <spdlog/spdlog.h>

#include "sluice/log/log.hpp"

namespace sluice::cli {

void setup_logging(const std::string& format, const std::string& level) {
  if (format == "json") {
    log::set_json(true);
    spdlog::set_formatter(log::json_formatter());
  }
  apply_log_level(level);
}

void apply_log_level(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

}  // namespace sluice::cli
