// An owning handle for libjwt's jwt_t (private to sluice_auth).
#pragma once

#include <jwt.h>

#include <memory>

namespace sluice::auth::detail {

/// Frees a jwt_t with jwt_free. Stateless, thread-safe.
struct JwtFree {
  void operator()(jwt_t* j) const noexcept { jwt_free(j); }
};

/// Owns one jwt_t (from jwt_new or jwt_decode); not shared between threads.
using JwtHandle = std::unique_ptr<jwt_t, JwtFree>;

}  // namespace sluice::auth::detail
