// KeyRing: authenticate() with missing, unknown and known keys, the scope
// checks a route makes, loading from a file, swapping rings while other
// threads read (KeyRingSlot), and the Bearer header parsing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "auth/auth_test_support.hpp"
#include "sluice/auth/api_key.hpp"
#include "sluice/auth/bearer.hpp"
#include "sluice/auth/key_file_edit.hpp"
#include "sluice/auth/key_ring.hpp"

namespace sluice::auth {
namespace {

using testing::TempDir;

struct Ring {
  std::string publisher, reader, admin;
  std::shared_ptr<const KeyRing> ring;
};

Ring make_ring(const std::filesystem::path& path) {
  Ring r;
  std::string error;
  r.publisher = create_key(path, "pub", Scope::publish, error).value();
  r.reader = create_key(path, "dash", Scope::read, error).value();
  r.admin = create_key(path, "root", Scope::admin, error).value();
  r.ring = KeyRing::load(path, error);
  EXPECT_TRUE(r.ring) << error;
  return r;
}

TEST(KeyRing, AuthenticatesKnownKeysOnly) {
  TempDir dir;
  const auto r = make_ring(dir / "keys");
  ASSERT_EQ(r.ring->size(), 3u);

  const auto pub = r.ring->authenticate(r.publisher);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub.identity->name, "pub");
  EXPECT_TRUE(pub.allows(Scope::publish));
  EXPECT_FALSE(pub.allows(Scope::read));
  EXPECT_FALSE(pub.allows(Scope::admin));

  const auto dash = r.ring->authenticate(r.reader);
  ASSERT_TRUE(dash);
  EXPECT_EQ(dash.identity->name, "dash");
  EXPECT_TRUE(dash.allows(Scope::read));
  EXPECT_FALSE(dash.allows(Scope::publish));

  const auto root = r.ring->authenticate(r.admin);
  ASSERT_TRUE(root);
  EXPECT_TRUE(root.allows(Scope::publish) && root.allows(Scope::read) && root.allows(Scope::admin));

  const auto none = r.ring->authenticate("");
  EXPECT_FALSE(none);
  EXPECT_EQ(none.failure, KeyFailure::missing);
  EXPECT_FALSE(none.allows(Scope::read));

  auto almost = r.publisher;
  almost.back() = almost.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad : {almost, std::string("sk_nope"), std::string("garbage"), *generate_api_key(),
                                r.publisher + "x", format_key_hash(*hash_api_key(r.publisher))}) {
    const auto check = r.ring->authenticate(bad);
    EXPECT_FALSE(check) << bad;
    EXPECT_EQ(check.failure, KeyFailure::unknown);
    EXPECT_FALSE(check.allows(Scope::publish));
  }
  EXPECT_EQ(to_string(KeyFailure::missing), "missing");
  EXPECT_EQ(to_string(KeyFailure::unknown), "unknown");
}

TEST(KeyRing, RevokedKeyIsUnknownAfterReload) {
  TempDir dir;
  const auto r = make_ring(dir / "keys");
  std::string error;
  ASSERT_TRUE(revoke_key(dir / "keys", "dash", error)) << error;
  const auto reloaded = KeyRing::load(dir / "keys", error);
  ASSERT_TRUE(reloaded) << error;
  EXPECT_FALSE(reloaded->authenticate(r.reader));
  EXPECT_TRUE(reloaded->authenticate(r.publisher));
  EXPECT_TRUE(r.ring->authenticate(r.reader));  // the old ring is a value: unchanged
}

TEST(KeyRing, LoadFailureSaysWhy) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(KeyRing::load(dir / "none", error));
  EXPECT_NE(error.find("does not exist"), std::string::npos);
}

TEST(KeyRingSlot, ReadersSeeOneRingOrTheOtherWhileItIsSwapped) {
  TempDir dir;
  const auto a = make_ring(dir / "a");
  const auto b = make_ring(dir / "b");
  KeyRingSlot slot(a.ring);
  std::atomic<bool> stop{false};
  std::atomic<int> from_a{0}, from_b{0}, neither{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        const auto ring = slot.get();
        const bool in_a = static_cast<bool>(ring->authenticate(a.publisher));
        const bool in_b = static_cast<bool>(ring->authenticate(b.publisher));
        (in_a && !in_b ? from_a : !in_a && in_b ? from_b : neither)++;
      }
    });
  }
  // Swap 50 times; after each swap, wait until a reader has used the new ring.
  bool all_seen = true;
  for (int round = 0; round < 50 && all_seen; ++round) {
    auto& seen = round % 2 ? from_a : from_b;
    const int before = seen.load();
    slot.set(round % 2 ? a.ring : b.ring);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen.load() == before && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    all_seen = seen.load() > before;
  }
  slot.set(nullptr);  // ignored
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_TRUE(all_seen);
  EXPECT_EQ(neither.load(), 0);
  EXPECT_EQ(slot.get(), a.ring);  // the last non-null set (round 49)
  EXPECT_TRUE(KeyRingSlot().get()->empty());
}

TEST(Bearer, TakesTheCredential) {
  EXPECT_EQ(bearer_credential("Bearer abc"), "abc");
  EXPECT_EQ(bearer_credential("bearer abc"), "abc");
  EXPECT_EQ(bearer_credential("BEARER   abc  "), "abc");
  EXPECT_EQ(bearer_credential(" Bearer sk_x-y_z "), "sk_x-y_z");
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "Bearerabc", "Bearer a b", "Bearer a\tb",
                          "Token abc", "Bearer\tabc"}) {
    EXPECT_FALSE(bearer_credential(bad)) << bad;
  }
}

}  // namespace
}  // namespace sluice::auth
