// The embedded engine: one node, events made durable by the store's
// group-commit log (or, without a log, kept in memory only: then the broker
// needs no engine at all).
#pragma once

#include "sluice/engine/engine.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::engine {

class EmbeddedEngine final : public Engine {
 public:
  /// `log` must outlive the engine. Thread-safe as the log is.
  explicit EmbeddedEngine(store::GroupCommitLog& log) noexcept : log_(log) {}

  bool numbers_events() const noexcept override { return false; }
  bool append(store::EventRecord record, Stored done) override { return log_.submit(std::move(record), std::move(done)); }
  bool batches_wakeups() const noexcept override { return true; }
  void hold_wakeups() override { log_.hold_wakeups(); }
  void release_wakeups() override { log_.release_wakeups(); }
  void stop() override { log_.stop(); }

 private:
  store::GroupCommitLog& log_;
};

}  // namespace sluice::engine
