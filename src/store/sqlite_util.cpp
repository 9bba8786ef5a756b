#include "store/sqlite_util.hpp"

namespace sluice::store::detail {
namespace {

class SqliteCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice.sqlite"; }
  std::string message(int value) const override { return sqlite3_errstr(value); }
};

}  // namespace

const std::error_category& sqlite_category() noexcept {
  static const SqliteCategory category;
  return category;
}

}  // namespace sluice::store::detail
