// permessage-deflate for frames many connections receive (uWebSockets' shared
// compressor): an event's frame is compressed once, not once per subscriber.
//
// A message compressed from an empty dictionary with a 15-bit window decodes
// on any connection whose server side agreed server_no_context_takeover and
// kept server_max_window_bits at 15 (Codec::takes_shared_deflate()): such a
// connection's own compressor never refers back into earlier messages, so the
// peer's window holding these messages changes nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sluice/protocol/deflate_params.hpp"

namespace sluice::protocol {

/// `frames`: complete unmasked server frames back to back (make_server_header).
/// Every unfragmented text or binary frame of at least
/// options.min_compress_size payload bytes whose payload shrinks is replaced
/// by its compressed form (RSV1 set); every other frame is copied unchanged.
/// Returns the result, or nullopt when no frame shrank (send `frames` as is)
/// or `frames` is not a run of complete server frames.
/// Thread-safe: each thread compresses with its own zlib stream (allocated on
/// its first use, kept for the thread's life).
std::optional<std::string> deflate_server_frames(std::string_view frames, const DeflateOptions& options);

}  // namespace sluice::protocol
