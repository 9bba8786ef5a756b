// Shared frames for connections that take shared permessage-deflate frames
// (protocol::Codec::takes_shared_deflate): each frame compressed once per
// loop, whatever the number of such connections it goes to.
#pragma once

#include <memory>
#include <string>

#include "sluice/protocol/deflate_params.hpp"

namespace sluice::net {

/// The compressed form of `frame` (complete unmasked server frames, see
/// protocol::deflate_server_frames), or `frame` itself when compressing does
/// not make it smaller. The last few frames asked for on this thread are
/// remembered (the compressed ones held, the originals only watched), so a
/// frame fanned out to many connections of one loop is compressed once.
/// Thread safety: per thread (each loop has its own memory of frames).
std::shared_ptr<const std::string> deflated_frame(const std::shared_ptr<const std::string>& frame,
                                                  const protocol::DeflateOptions& options);

}  // namespace sluice::net
