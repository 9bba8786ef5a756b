// `sluice key create|list|revoke --keys-file PATH`: the API keys file
// (docs/security.md). `create` prints the new key once, alone on the last
// line of its output: only its hash is stored. Exit status: 0 done, 1 the
// file could not be read, changed or has no such key, 2 bad arguments.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "sluice/auth/key_file.hpp"
#include "sluice/auth/key_file_edit.hpp"
#include "sluice/auth/scopes.hpp"

namespace sluice::cli {

namespace {

struct KeyOptions {
  std::string keys_file;
  std::string name;
  std::string scopes;
};

int create(const KeyOptions& o) {
  if (auto why = auth::key_name_error(o.name); !why.empty()) {
    std::fprintf(stderr, "sluice key create: --name: %s\n", why.c_str());
    return 2;
  }
  std::string error;
  const auto scopes = auth::parse_scopes(o.scopes, error);
  if (!scopes) {
    std::fprintf(stderr, "sluice key create: --scopes: %s\n", error.c_str());
    return 2;
  }
  const auto key = auth::create_key(o.keys_file, o.name, *scopes, error);
  if (!key) {
    std::fprintf(stderr, "sluice key create: %s\n", error.c_str());
    return 1;
  }
  std::printf("added key '%s' (%s) to %s\n", o.name.c_str(), auth::to_string(*scopes).c_str(), o.keys_file.c_str());
  std::printf("the key follows; it is shown only this once (the file keeps only its hash):\n%s\n", key->c_str());
  return 0;
}

int list(const KeyOptions& o) {
  std::string error;
  const auto entries = auth::load_key_file(o.keys_file, error);
  if (!entries) {
    std::fprintf(stderr, "sluice key list: %s\n", error.c_str());
    return 1;
  }
  for (const auto& e : *entries) std::printf("%s\t%s\n", e.name.c_str(), auth::to_string(e.scopes).c_str());
  if (entries->empty()) std::fprintf(stderr, "sluice key list: no keys in %s\n", o.keys_file.c_str());
  return 0;
}

int revoke(const KeyOptions& o) {
  if (auto why = auth::key_name_error(o.name); !why.empty()) {
    std::fprintf(stderr, "sluice key revoke: NAME: %s\n", why.c_str());
    return 2;
  }
  std::string error;
  if (!auth::revoke_key(o.keys_file, o.name, error)) {
    std::fprintf(stderr, "sluice key revoke: %s\n", error.c_str());
    return 1;
  }
  std::printf("revoked key '%s' in %s (a server refuses it once it reloads the file)\n", o.name.c_str(),
              o.keys_file.c_str());
  return 0;
}

void add_keys_file_option(CLI::App* command, std::string& path) {
  command->add_option("--keys-file", path, "The keys file (NAME SCOPES HASH lines)")->required();
}

}  // namespace

void add_key_command(CLI::App& app) {
  auto o = std::make_shared<KeyOptions>();
  CLI::App* key = app.add_subcommand("key", "Manage API keys in a keys file: create, list, revoke");
  key->require_subcommand(1);

  CLI::App* c = key->add_subcommand("create", "Generate a key, add its hash to the keys file, print the key once");
  add_keys_file_option(c, o->keys_file);
  c->add_option("--name", o->name, "The key's name (letters, digits, '.', '_', '-')")->required();
  c->add_option("--scopes", o->scopes, "Comma-separated: publish, read, admin (admin allows everything)")->required();
  c->callback([o] { std::exit(create(*o)); });

  CLI::App* l = key->add_subcommand("list", "Print each key's name and scopes (tab-separated)");
  add_keys_file_option(l, o->keys_file);
  l->callback([o] { std::exit(list(*o)); });

  CLI::App* r = key->add_subcommand("revoke", "Remove the key named NAME from the keys file");
  add_keys_file_option(r, o->keys_file);
  r->add_option("name", o->name, "The key's name")->required();
  r->callback([o] { std::exit(revoke(*o)); });
}

}  // namespace sluice::cli
