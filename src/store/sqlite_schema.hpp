// The SQLite store's schema: the tables, its version, and the event columns in
// the order every event SELECT returns them (see event_from_row).
#pragma once

namespace sluice::store::detail {

// 1: events, topics, subscriptions. 2: webhook positions and dead letters
// (added by CREATE ... IF NOT EXISTS: a version 1 file is migrated in place).
inline constexpr int kSchemaVersion = 2;

// `offset` and `key` are SQL keywords, hence quoted everywhere.
inline constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  topic TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  id TEXT NOT NULL,
  epoch TEXT NOT NULL,
  type TEXT NOT NULL,
  "key" TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  data BLOB NOT NULL,
  idempotency_key TEXT NOT NULL,
  PRIMARY KEY (topic, "offset")
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(id);
CREATE INDEX IF NOT EXISTS events_idempotency_key ON events(idempotency_key)
  WHERE idempotency_key <> '';
-- Each topic's position survives a trim that deletes all its events, so
-- offsets continue after a restart instead of starting over.
CREATE TABLE IF NOT EXISTS topics (
  topic TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_offset INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  json TEXT NOT NULL
) WITHOUT ROWID;
-- Webhook delivery: per subscription and topic, the offset up to which every
-- event was delivered or dead-lettered; and the dead letters.
CREATE TABLE IF NOT EXISTS webhook_positions (
  subscription TEXT NOT NULL,
  topic TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  PRIMARY KEY (subscription, topic)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_dead_letters (
  subscription TEXT NOT NULL,
  id TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (subscription, id)
) WITHOUT ROWID;
-- A deleted subscription's webhook state goes with it, in the same transaction.
CREATE TRIGGER IF NOT EXISTS subscriptions_webhook_state AFTER DELETE ON subscriptions BEGIN
  DELETE FROM webhook_positions WHERE subscription = old.id;
  DELETE FROM webhook_dead_letters WHERE subscription = old.id;
END;
-- State a writer queued just before its subscription's delete landed after it.
DELETE FROM webhook_positions WHERE subscription NOT IN (SELECT id FROM subscriptions);
DELETE FROM webhook_dead_letters WHERE subscription NOT IN (SELECT id FROM subscriptions);
)sql";

inline constexpr const char* kEventColumns =
    R"sql(id, topic, "offset", epoch, type, "key", time_ms, data, idempotency_key)sql";

}  // namespace sluice::store::detail
