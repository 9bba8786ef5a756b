// A redis-server of a test's own (engine tests): a free loopback port, no
// persistence, a temp dir; stopped (SIGTERM, reaped) with the object. With
// RedisTls it listens for TLS only, on that port.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "temp_dir.hpp"

extern char** environ;

namespace sluice::engine::test_support {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

/// A TLS redis-server's certificate, key and the CAs it trusts for clients.
struct RedisTls {
  std::string cert_file, key_file, client_ca_file;
  bool auth_clients = false;  ///< tls-auth-clients: a client certificate is required
};

class RedisServer {
 public:
  explicit RedisServer(const RedisTls* tls = nullptr, std::vector<std::string> extra = {}) : port_(free_port()) {
    std::vector<std::string> args = {kRedisServer, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", dir_.str()};
    if (tls) {
      args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", tls->cert_file,
                               "--tls-key-file", tls->key_file, "--tls-ca-cert-file", tls->client_ca_file,
                               "--tls-auth-clients", tls->auth_clients ? "yes" : "no"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ / "redis.log").c_str(), O_WRONLY | O_CREAT, 0600);
    started_ = posix_spawn(&pid_, kRedisServer, &actions, nullptr, argv.data(), environ) == 0;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~RedisServer() {
    if (!started_) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool started() const { return started_; }
  std::uint16_t port() const { return port_; }

 private:
  test::TempDir dir_;
  std::uint16_t port_;
  pid_t pid_ = 0;
  bool started_ = false;
};

}  // namespace sluice::engine::test_support
