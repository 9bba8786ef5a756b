// The keys file: keys and their hashes, scopes, parsing (comments, blank
// lines, CRLF; every bad line named by number, no secret echoed), and the
// edits `sluice key` makes (create, revoke: atomic, mode 0600, other lines
// kept).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <set>
#include <thread>

#include "auth/auth_test_support.hpp"
#include "sluice/auth/api_key.hpp"
#include "sluice/auth/key_file.hpp"
#include "sluice/auth/key_file_edit.hpp"
#include "sluice/auth/scopes.hpp"

namespace sluice::auth {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

std::string hash_of(std::string_view key) { return format_key_hash(*hash_api_key(key)); }

TEST(ApiKey, HasThePrefixAndLengthAndIsNeverTheSameTwice) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto key = generate_api_key();
    ASSERT_TRUE(key);
    EXPECT_TRUE(key->starts_with("sk_"));
    EXPECT_EQ(key->size(), kApiKeyLength);
    EXPECT_TRUE(looks_like_api_key(*key)) << *key;
    EXPECT_EQ(key->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 3),
              std::string::npos);
    seen.insert(*key);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_FALSE(looks_like_api_key("sk_short"));
  EXPECT_FALSE(looks_like_api_key("pk_" + std::string(43, 'a')));
  EXPECT_FALSE(looks_like_api_key("sk_" + std::string(42, 'a') + "+"));
}

TEST(ApiKey, HashIsSha256InHex) {
  // sha256("abc") from FIPS 180-2.
  EXPECT_EQ(hash_of("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto parsed = parse_key_hash(hash_of("abc"));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, *hash_api_key("abc"));
  EXPECT_FALSE(parse_key_hash("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(parse_key_hash("sha256:ba78"));
  EXPECT_FALSE(parse_key_hash("md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

TEST(Scopes, ParseAndImply) {
  std::string error;
  const auto s = parse_scopes("publish,read", error);
  ASSERT_TRUE(s) << error;
  EXPECT_TRUE(s->allows(Scope::publish));
  EXPECT_TRUE(s->allows(Scope::read));
  EXPECT_FALSE(s->allows(Scope::admin));
  EXPECT_EQ(to_string(*s), "publish,read");
  const auto admin = parse_scopes("admin", error);
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->allows(Scope::publish));  // admin implies everything
  EXPECT_TRUE(admin->allows(Scope::read));
  EXPECT_FALSE(admin->contains(Scope::read));
  EXPECT_EQ(to_string(*parse_scopes("admin,publish", error)), "publish,admin");  // one order on disk
  const auto read = parse_scopes("read", error);
  EXPECT_FALSE(read->allows(Scope::publish));

  for (const char* bad : {"", "write", "read,", ",read", "read,read", "read, publish", "READ"}) {
    EXPECT_FALSE(parse_scopes(bad, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
  parse_scopes("read,write", error);
  EXPECT_NE(error.find("'write'"), std::string::npos) << error;
  parse_scopes("sk_" + std::string(43, 'x'), error);  // a key pasted here is not repeated
  EXPECT_EQ(error.find("sk_"), std::string::npos) << error;
}

TEST(KeyFile, ParsesCommentsBlankLinesAndCrlf) {
  const std::string text = "# keys\n\n  # indented comment\nci publish " + hash_of("k1") + "\r\n\tdash\tread,admin  " +
                           hash_of("k2") + "   \nlast.one-x_y publish,read " + hash_of("k3");  // no final newline
  std::string error;
  const auto entries = parse_key_file(text, error);
  ASSERT_TRUE(entries) << error;
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "ci");
  EXPECT_EQ((*entries)[0].scopes, Scopes(Scope::publish));
  EXPECT_EQ((*entries)[0].hash, *hash_api_key("k1"));
  EXPECT_EQ((*entries)[0].line, 4u);
  EXPECT_EQ((*entries)[1].name, "dash");
  EXPECT_TRUE((*entries)[1].scopes.contains(Scope::admin));
  EXPECT_EQ((*entries)[1].line, 5u);
  EXPECT_EQ((*entries)[2].name, "last.one-x_y");
  EXPECT_EQ(format_key_line((*entries)[2]), "last.one-x_y publish,read " + hash_of("k3"));
  // An empty file (or only comments) is a valid ring of no keys.
  EXPECT_TRUE(parse_key_file("", error) && parse_key_file("# nothing\n", error)->empty());
}

TEST(KeyFile, NamesTheBadLine) {
  const std::string good = "ok publish " + hash_of("k1") + "\n# comment\n";
  const std::string key = *generate_api_key();
  struct Case {
    std::string line;
    std::string says;
  };
  const Case cases[] = {
      {"two fields", "expected 3 fields"},
      {"a publish " + hash_of("k2") + " extra", "expected 3 fields"},
      {"bad/name publish " + hash_of("k2"), "key name may only contain"},
      {"x write " + hash_of("k2"), "unknown scope 'write'"},
      {"x publish sha256:abc", "the hash must be"},
      {"x publish " + key, "holds an API key itself"},  // the key instead of its hash
      {key + " publish " + hash_of("k2"), "holds an API key itself"},
      {"ok read " + hash_of("k2"), "already used on line 1"},
      {"other read " + hash_of("k1"), "same key hash is already on line 1"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_key_file(good + c.line + "\n", error)) << c.line;
    EXPECT_TRUE(error.starts_with("line 3: ")) << error;
    EXPECT_NE(error.find(c.says), std::string::npos) << error;
    EXPECT_EQ(error.find(key), std::string::npos) << error;
    EXPECT_EQ(error.find(hash_of("k2").substr(7, 16)), std::string::npos) << error;  // no hash echoed
  }
}

TEST(KeyFile, LoadSaysWhichFile) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(load_key_file(dir / "missing", error));
  EXPECT_NE(error.find("missing does not exist"), std::string::npos) << error;
  write_file(dir / "keys", "\nx nope " + hash_of("a") + "\n");
  EXPECT_FALSE(load_key_file(dir / "keys", error));
  EXPECT_NE(error.find("keys, line 2: unknown scope 'nope'"), std::string::npos) << error;
}

TEST(KeyFileEdit, CreateAppendsAHashNeverTheKey) {
  TempDir dir;
  const auto path = dir / "keys";
  std::string error;
  const auto key = create_key(path, "ci", Scope::publish, error);
  ASSERT_TRUE(key) << error;
  EXPECT_TRUE(looks_like_api_key(*key));
  const auto text = read_file(path);
  EXPECT_EQ(text.find(*key), std::string::npos);
  EXPECT_NE(text.find("ci publish " + hash_of(*key) + "\n"), std::string::npos) << text;
  EXPECT_TRUE(text.starts_with("#"));  // a header says what the file is

  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Scopes both(Scope::read);
  both.add(Scope::admin);
  const auto second = create_key(path, "dash", both, error);
  ASSERT_TRUE(second) << error;
  EXPECT_NE(*second, *key);
  const auto entries = load_key_file(path, error);
  ASSERT_TRUE(entries) << error;
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].name, "dash");
  EXPECT_EQ((*entries)[1].hash, *hash_api_key(*second));

  // A taken name, a bad name, no scope: refused and nothing changed.
  EXPECT_FALSE(create_key(path, "ci", Scope::read, error));
  EXPECT_NE(error.find("already exists"), std::string::npos) << error;
  EXPECT_FALSE(create_key(path, "has space", Scope::read, error));
  EXPECT_FALSE(create_key(path, "x", Scopes(), error));
  EXPECT_EQ(read_file(path), text + "dash read,admin " + hash_of(*second) + "\n");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);  // no temporary file left
}

TEST(KeyFileEdit, CreateRefusesToTouchAnInvalidFile) {
  TempDir dir;
  const std::string broken = "x publish not-a-hash\n";
  write_file(dir / "keys", broken);
  std::string error;
  EXPECT_FALSE(create_key(dir / "keys", "y", Scope::read, error));
  EXPECT_NE(error.find("line 1"), std::string::npos) << error;
  EXPECT_EQ(read_file(dir / "keys"), broken);
}

TEST(KeyFileEdit, RevokeRemovesOnlyThatLine) {
  TempDir dir;
  const auto path = dir / "keys";
  const std::string before = "# mine\nci publish " + hash_of("k1") + "\n\n# the dashboard\ndash read " + hash_of("k2") +
                             "\nlast admin " + hash_of("k3") + "\n";
  write_file(path, before);
  ::chmod(path.c_str(), 0644);
  std::string error;
  ASSERT_TRUE(revoke_key(path, "dash", error)) << error;
  EXPECT_EQ(read_file(path), "# mine\nci publish " + hash_of("k1") + "\n\n# the dashboard\nlast admin " + hash_of("k3") + "\n");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_FALSE(revoke_key(path, "dash", error));
  EXPECT_NE(error.find("no key named 'dash'"), std::string::npos) << error;
  EXPECT_FALSE(revoke_key(dir / "absent", "ci", error));
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  const std::string key = *generate_api_key();
  EXPECT_FALSE(revoke_key(path, key, error));  // a key given instead of a name is not echoed
  EXPECT_EQ(error.find(key), std::string::npos) << error;
}

// Keys created at once (as by `sluice key create` run in parallel) are all
// kept: each edit reads, adds and renames under a lock, so none overwrites
// another's file.
TEST(KeyFileEdit, EditsAtOnceLoseNoKey) {
  TempDir dir;
  const auto path = dir / "keys";
  constexpr int kThreads = 8, kPerThread = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string error;
        if (!create_key(path, "k" + std::to_string(t) + "-" + std::to_string(i), Scope::read, error)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::string error;
  const auto entries = load_key_file(path, error);
  ASSERT_TRUE(entries) << error;
  EXPECT_EQ(entries->size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::string removed_error;
  EXPECT_TRUE(revoke_key(path, "k0-0", removed_error)) << removed_error;
  EXPECT_EQ(load_key_file(path, error)->size(), static_cast<std::size_t>(kThreads * kPerThread - 1));
}

TEST(KeyFileEdit, AtomicWriteFailsCleanly) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(write_file_atomically(dir / "no-such-dir" / "keys", "x", error));
  EXPECT_NE(error.find("temporary file"), std::string::npos) << error;
}

}  // namespace
}  // namespace sluice::auth
