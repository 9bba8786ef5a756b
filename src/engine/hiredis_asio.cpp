#include "engine/hiredis_asio.hpp"

#include <hiredis/async.h>

#include <boost/asio/posix/stream_descriptor.hpp>

#include <memory>

namespace sluice::engine::detail {

namespace {

// One per context. Handlers hold `alive`: once hiredis cleaned up, a wait
// that completes later (operation_aborted) touches nothing.
struct Adapter {
  Adapter(redisAsyncContext* c, boost::asio::io_context& io) : context(c), socket(io, c->c.fd) {}

  redisAsyncContext* context;
  boost::asio::posix::stream_descriptor socket;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  bool want_read = false, want_write = false;
  bool read_waiting = false, write_waiting = false;

  void wait_read() {
    if (read_waiting || !want_read) return;
    read_waiting = true;
    socket.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, alive = alive](boost::system::error_code ec) {
      if (!*alive) return;
      read_waiting = false;
      if (ec || !want_read) return;
      redisAsyncHandleRead(context);  // may free the context (and this adapter)
      if (*alive) wait_read();
    });
  }
  void wait_write() {
    if (write_waiting || !want_write) return;
    write_waiting = true;
    socket.async_wait(boost::asio::posix::stream_descriptor::wait_write, [this, alive = alive](boost::system::error_code ec) {
      if (!*alive) return;
      write_waiting = false;
      if (ec || !want_write) return;
      redisAsyncHandleWrite(context);  // may free the context (and this adapter)
      if (*alive) wait_write();
    });
  }
};

void add_read(void* data) {
  auto* a = static_cast<Adapter*>(data);
  a->want_read = true;
  a->wait_read();
}
void del_read(void* data) { static_cast<Adapter*>(data)->want_read = false; }
void add_write(void* data) {
  auto* a = static_cast<Adapter*>(data);
  a->want_write = true;
  a->wait_write();
}
void del_write(void* data) { static_cast<Adapter*>(data)->want_write = false; }
void cleanup(void* data) {
  auto* a = static_cast<Adapter*>(data);
  *a->alive = false;
  boost::system::error_code ignored;
  a->socket.cancel(ignored);
  (void)a->socket.release();  // hiredis closes the descriptor
  delete a;
}

}  // namespace

bool attach_to_asio(redisAsyncContext* context, boost::asio::io_context& io) {
  if (context->err || context->ev.data) return false;
  auto* adapter = new Adapter(context, io);
  context->ev.data = adapter;
  context->ev.addRead = add_read;
  context->ev.delRead = del_read;
  context->ev.addWrite = add_write;
  context->ev.delWrite = del_write;
  context->ev.cleanup = cleanup;
  return true;
}

}  // namespace sluice::engine::detail
