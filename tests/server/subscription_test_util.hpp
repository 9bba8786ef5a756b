// Creating a subscription and waiting for the outcome (the registry answers
// through a callback, on the subscription store's thread when there is one).
#pragma once

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "sluice/engine/subscription_store.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "sluice/topic/filter.hpp"

namespace sluice::test {

/// A subscription to `patterns`, with the filter `filter` (JSON text) if given.
inline server::SubscriptionSpec spec(std::vector<std::string> patterns, const char* filter = nullptr) {
  server::SubscriptionSpec s;
  s.patterns = std::move(patterns);
  if (filter) {
    std::string error;
    s.filter = topic::Filter::compile(boost::json::parse(filter), error);
    EXPECT_TRUE(s.filter) << error;
  }
  return s;
}

inline server::SubscriptionRegistry::CreateResult create_now(server::SubscriptionRegistry& registry,
                                                              server::SubscriptionSpec spec, std::int64_t now_ms) {
  auto answer = std::make_shared<std::promise<server::SubscriptionRegistry::CreateResult>>();
  auto result = answer->get_future();
  registry.create(std::move(spec), now_ms, [answer](server::SubscriptionRegistry::CreateResult r) {
    answer->set_value(std::move(r));
  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "create was not answered";
    return {server::SubscriptionRegistry::CreateStatus::store_failed, nullptr, "not answered"};
  }
  return result.get();
}

/// Returns once `store` applied every change given before the call (its
/// changes are applied in order: a remove of an unknown id is the barrier).
inline void wait_applied(engine::SubscriptionStore& store) {
  auto applied = std::make_shared<std::promise<void>>();
  auto done = applied->get_future();
  store.remove("sub_barrier_for_tests", [applied](const std::string&) { applied->set_value(); });
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) ADD_FAILURE() << "store did not answer";
}

}  // namespace sluice::test
