// The API keys a server accepts, loaded from the keys file: an immutable
// value, shared by every event loop, replaced whole when the file is
// reloaded (SIGHUP), never edited in place.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/auth/key_file.hpp"
#include "sluice/auth/scopes.hpp"

namespace sluice::auth {

/// Who a request's key belongs to.
struct KeyIdentity {
  std::string name;
  Scopes scopes;
};

/// Why a request has no identity: no credential at all, or one that no key
/// in the ring matches (malformed keys are `unknown` too: telling the two
/// apart would only help a guesser). Both mean 401.
enum class KeyFailure { missing, unknown };
/// "missing" or "unknown" (a static string). Pure, thread-safe.
std::string_view to_string(KeyFailure f) noexcept;

/// authenticate()'s answer: an identity, or why not. A plain value (owns
/// its strings): thread-safe to copy and read, valid after the ring is gone.
struct KeyCheck {
  std::optional<KeyIdentity> identity;
  KeyFailure failure = KeyFailure::missing;  ///< meaningful only without identity

  explicit operator bool() const noexcept { return identity.has_value(); }
  /// True if authenticated and the key's scopes allow `needed` (admin allows all).
  bool allows(Scope needed) const noexcept { return identity && identity->scopes.allows(needed); }
};

class KeyRing {
 public:
  /// A ring of `entries` (as load_key_file gives them; unique names and
  /// hashes). Immutable from then on: share it as shared_ptr<const KeyRing>.
  explicit KeyRing(std::vector<KeyEntry> entries);

  /// Loads the keys file at `path`; null with `error` ("keys file PATH, line
  /// N: why") if it is missing or invalid (then keep the previous ring).
  static std::shared_ptr<const KeyRing> load(const std::filesystem::path& path, std::string& error);

  /// Who `credential` (the bearer credential, e.g. from bearer_credential())
  /// belongs to. Empty: missing. Otherwise its SHA-256 is compared with every
  /// key's hash with CRYPTO_memcmp, all of them, whatever matches, so the
  /// time taken says nothing about the stored hashes. Thread-safe (const);
  /// the credential is only read during the call and never kept or logged.
  KeyCheck authenticate(std::string_view credential) const;

  /// Number of keys. Thread-safe (const).
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  /// The keys, in file order (names, scopes, hashes); valid while the ring
  /// lives. Thread-safe (const).
  const std::vector<KeyEntry>& entries() const noexcept { return entries_; }

 private:
  std::vector<KeyEntry> entries_;
};

/// The current KeyRing of a running server: readers on any thread take a
/// snapshot (a shared_ptr that keeps that ring alive while they use it); a
/// reload swaps in a whole new ring. Thread-safe. A mutex held only to copy
/// the pointer (never across authenticate() or I/O): libstdc++ 12's
/// atomic<shared_ptr> is a lock bit ThreadSanitizer cannot see, and it let
/// readers starve a writer in our tests.
class KeyRingSlot {
 public:
  explicit KeyRingSlot(std::shared_ptr<const KeyRing> ring = std::make_shared<const KeyRing>(std::vector<KeyEntry>{}))
      : ring_(ring ? std::move(ring) : std::make_shared<const KeyRing>(std::vector<KeyEntry>{})) {}
  std::shared_ptr<const KeyRing> get() const {
    std::lock_guard lock(mutex_);
    return ring_;
  }
  /// Replaces the ring; readers holding the old one finish with it. Null is ignored.
  void set(std::shared_ptr<const KeyRing> ring) {
    if (!ring) return;
    std::lock_guard lock(mutex_);
    ring_.swap(ring);  // the old ring is released after the lock, in `ring`'s destructor
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const KeyRing> ring_;
};

}  // namespace sluice::auth
