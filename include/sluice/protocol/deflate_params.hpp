// permessage-deflate (RFC 7692) parameters: what an endpoint is willing to offer
// or accept, and what a handshake agreed on.
#pragma once

namespace sluice::protocol {

/// What one endpoint is willing to do. A server accepts a client's offer within
/// these bounds; a client offers exactly this. Values are validated by
/// validate(): window bits must be 9..15 (zlib cannot emit raw deflate with an
/// 8-bit window, so we never agree to compress with one).
struct DeflateOptions {
  bool enabled = false;
  /// Ask that the server resets its compression context after every message.
  bool server_no_context_takeover = false;
  /// Ask that the client resets its compression context after every message.
  bool client_no_context_takeover = false;
  /// Largest LZ77 window the server may use for compression (9..15).
  int server_max_window_bits = 15;
  /// Largest LZ77 window the client may use for compression (9..15).
  int client_max_window_bits = 15;
  /// zlib compression level (0..9) and memory level (1..9) for our deflater.
  int compression_level = 6;
  int mem_level = 8;
  /// Messages shorter than this are sent uncompressed (RSV1 clear).
  unsigned min_compress_size = 64;

  /// True when every field is within its documented range.
  bool valid() const noexcept {
    return server_max_window_bits >= 9 && server_max_window_bits <= 15 &&
           client_max_window_bits >= 9 && client_max_window_bits <= 15 &&
           compression_level >= 0 && compression_level <= 9 && mem_level >= 1 && mem_level <= 9;
  }
};

/// What the handshake agreed on for one connection (from the server's response).
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
};

}  // namespace sluice::protocol
