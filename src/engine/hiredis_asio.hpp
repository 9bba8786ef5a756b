// hiredis' async adapter interface on an Asio io_context: hiredis asks for
// read/write readiness (addRead, delRead, addWrite, delWrite) and we wait for
// it on a posix::stream_descriptor, so no thread ever blocks on Redis.
#pragma once

#include <boost/asio/io_context.hpp>

struct redisAsyncContext;

namespace sluice::engine::detail {

/// Attaches `context` to `io`. Call on the thread running `io`, right after
/// redisAsyncConnect; hiredis frees the adapter through its cleanup hook when
/// the context goes (it closes the socket itself: we only release it).
/// Returns false if the context has an error already. Not thread-safe: the
/// context and the adapter belong to `io`'s thread.
bool attach_to_asio(redisAsyncContext* context, boost::asio::io_context& io);

}  // namespace sluice::engine::detail
