// Client-side receive throughput (issue 5): one client on one core takes a
// stream of small events as fast as a blaster on the other core writes them.
// The blaster is a bare loopback socket writing pre-encoded server frames
// (so the server engine is not what is measured). Modes:
//   raw:   sluice::Client, 64-byte text messages, counted in on_message;
//   topic: sluice::TopicClient, in-band event messages with 64 bytes of data
//          (parsed, de-duplicated by offset, handed to a subscription handler).
// Prints events/s and the CPU time of the client side (the process minus the
// blaster thread) beside it.
#include <CLI/CLI.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "process_stats.hpp"
#include "sluice/client/client.hpp"
#include "sluice/client/topic_client.hpp"
#include "sluice/protocol/frame.hpp"
#include "sluice/protocol/handshake.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

void pin_this_thread(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double process_cpu_seconds() { return sluice::bench::self_cpu_time().total(); }

void append_text_frame(std::string& out, std::string_view payload) {
  const auto header = sluice::protocol::make_server_header(sluice::protocol::Opcode::text, payload.size());
  out.append(reinterpret_cast<const char*>(header.bytes.data()), header.size);
  out.append(payload);
}

// Accepts one WebSocket client and writes `events` frames to it, built chunk by chunk.
class Blaster {
 public:
  Blaster(bool topic_events, std::uint64_t events, int cpu)
      : acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        topic_events_(topic_events),
        events_(events) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, cpu] {
      pin_this_thread(cpu);
      run();
    });
  }
  ~Blaster() { thread_.join(); }
  std::uint16_t port() const { return port_; }
  /// The blaster's CPU time, once it wrote everything (waits for that).
  double cpu_seconds() const {
    while (!finished_.load()) std::this_thread::yield();
    return cpu_seconds_.load();
  }

 private:
  void run() {
    asio::ip::tcp::socket socket(io_);
    acceptor_.accept(socket);
    socket.set_option(asio::ip::tcp::no_delay(true));
    asio::streambuf head;
    asio::read_until(socket, head, "\r\n\r\n");
    std::string request(asio::buffers_begin(head.data()), asio::buffers_end(head.data()));
    const auto at = request.find("Sec-WebSocket-Key:");
    std::string key = request.substr(at + 18, request.find("\r\n", at) - at - 18);
    key.erase(0, key.find_first_not_of(' '));
    const std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: " +
                                 sluice::protocol::compute_accept_key(key) + "\r\n\r\n";
    asio::write(socket, asio::buffer(response));
    const std::string data(62, 'x');  // a 64-byte JSON string "xx..x"
    std::string chunk;
    std::uint64_t sent = 0;
    constexpr std::uint64_t kChunk = 8192;
    char text[512];
    boost::system::error_code ec;
    while (sent < events_ && !ec) {
      chunk.clear();
      for (std::uint64_t i = 0; i < kChunk && sent < events_; ++i) {
        ++sent;
        if (topic_events_) {
          const int n = std::snprintf(text, sizeof text,
                                      R"({"type":"event","event":{"id":"evt_%016llx","topic":"bench.events","offset":%llu,)"
                                      R"("epoch":"e1","time":"2026-11-22T10:00:00.000Z","data":"%s"}})",
                                      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(sent),
                                      data.c_str());
          append_text_frame(chunk, std::string_view(text, static_cast<std::size_t>(n)));
        } else {
          append_text_frame(chunk, std::string_view(text, static_cast<std::size_t>(
                                                              std::snprintf(text, sizeof text, "%063llu",
                                                                            static_cast<unsigned long long>(sent)) +
                                                              1)));
        }
      }
      asio::write(socket, asio::buffer(chunk), ec);
    }
    cpu_seconds_ = thread_cpu_seconds();
    finished_ = true;
    // Hold the socket until the client closes it.
    char sink[4096];
    while (!ec) socket.read_some(asio::buffer(sink), ec);
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  bool topic_events_;
  std::uint64_t events_;
  std::uint16_t port_ = 0;
  std::atomic<double> cpu_seconds_{0};
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

struct Done {
  std::mutex mutex;
  std::condition_variable cv;
  std::atomic<std::uint64_t> count{0};
  Clock::time_point first, last;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Client receive throughput: one client, small events from a loopback blaster"};
  std::string mode = "raw";
  std::uint64_t events = 5'000'000;
  int client_cpu = 0, blaster_cpu = 1;
  app.add_option("--mode", mode, "raw (sluice::Client) or topic (sluice::TopicClient)")->capture_default_str();
  app.add_option("--events", events, "Events to receive")->capture_default_str();
  app.add_option("--client-cpu", client_cpu, "CPU for the client (-1: any)")->capture_default_str();
  app.add_option("--blaster-cpu", blaster_cpu, "CPU for the blaster (-1: any)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (mode != "raw" && mode != "topic") {
    std::fprintf(stderr, "--mode is raw or topic\n");
    return 2;
  }

  Blaster blaster(mode == "topic", events, blaster_cpu);
  pin_this_thread(client_cpu);  // the client's thread, created below, inherits it
  const std::string url = "ws://127.0.0.1:" + std::to_string(blaster.port()) + "/v1/ws";
  Done done;
  auto on_one = [&done, events] {
    const auto n = done.count.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n == 1) done.first = Clock::now();
    if (n == events) {
      std::lock_guard lock(done.mutex);
      done.last = Clock::now();
      done.cv.notify_all();
    }
  };
  sluice::client::ClientOptions options;
  options.liveness.ping_interval = std::chrono::milliseconds(0);
  options.max_message_size = 1024 * 1024;
  const double cpu_before = process_cpu_seconds();
  std::unique_ptr<sluice::client::Client> raw;
  std::unique_ptr<sluice::client::TopicClient> topic;
  if (mode == "raw") {
    raw = std::make_unique<sluice::client::Client>(url, options);
    raw->on_message([&](const sluice::client::Message&) { on_one(); });
    raw->connect();
  } else {
    sluice::client::TopicClientOptions topic_options;
    topic_options.client = options;
    topic = std::make_unique<sluice::client::TopicClient>(url, topic_options);
    topic->subscribe("bench.>", [&](const sluice::client::TopicEvent&) { on_one(); });
    topic->connect();
  }
  {
    std::unique_lock lock(done.mutex);
    if (!done.cv.wait_for(lock, std::chrono::minutes(5), [&] { return done.count.load() >= events; })) {
      std::fprintf(stderr, "timed out after %llu events\n", static_cast<unsigned long long>(done.count.load()));
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(done.last - done.first).count();
  const double blaster_cpu_s = blaster.cpu_seconds();
  const double client_cpu_s = process_cpu_seconds() - cpu_before - blaster_cpu_s;
  const double rate = static_cast<double>(events - 1) / seconds;
  // Per CPU-second of the client as well: on a shared machine the wall rate
  // drops whenever the client's core is taken by someone else.
  std::printf("mode=%s events=%llu seconds=%.3f events_per_s=%.0f client_cpu_s=%.3f events_per_client_cpu_s=%.0f "
              "client_cpu_percent=%.0f blaster_cpu_s=%.2f\n",
              mode.c_str(), static_cast<unsigned long long>(events), seconds, rate, client_cpu_s,
              static_cast<double>(events) / client_cpu_s, 100.0 * client_cpu_s / seconds, blaster.cpu_seconds());
  if (raw) raw->close();
  if (topic) topic->close();
  return 0;
}
