// Raw RFC 6455 frames for the interop peers that must send what a WebSocket
// library refuses to (garbage frames) or read what it hides (the exact close
// frame, its mask). Small on purpose: no extensions, whole frames only.
import crypto from 'node:crypto';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function acceptKey(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * One frame. `rsv` is the 3-bit RSV1..RSV3 field (4 = RSV1, 2 = RSV2, 1 = RSV3).
 * `mask`: true for a random masking key (client frames), false for none.
 */
export function frame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = false }) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  const maskBit = mask ? 0x80 : 0;
  if (data.length < 126) {
    head.push(maskBit | data.length);
  } else if (data.length < 65536) {
    head.push(maskBit | 126, data.length >> 8, data.length & 0xff);
  } else {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(data.length));
    head.push(maskBit | 127, ...len);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(data);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A close frame with a code (and reason bytes), or none when code is undefined. */
export function closeFrame(code, reason = Buffer.alloc(0), mask = false) {
  if (code === undefined) return frame({ opcode: 0x8, mask });
  const payload = Buffer.alloc(2 + reason.length);
  payload.writeUInt16BE(code, 0);
  Buffer.from(reason).copy(payload, 2);
  return frame({ opcode: 0x8, payload, mask });
}

/**
 * Parses whole frames from the front of `buf`. Returns { frames, rest }, each
 * frame { fin, rsv, opcode, masked, payload } with the payload unmasked.
 */
export function parseFrames(buf) {
  const frames = [];
  let pos = 0;
  for (;;) {
    if (buf.length - pos < 2) break;
    const b0 = buf[pos];
    const b1 = buf[pos + 1];
    let len = b1 & 0x7f;
    let off = pos + 2;
    if (len === 126) {
      if (buf.length - off < 2) break;
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      if (buf.length - off < 8) break;
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let key = null;
    if (masked) {
      if (buf.length - off < 4) break;
      key = buf.subarray(off, off + 4);
      off += 4;
    }
    if (buf.length - off < len) break;
    const payload = Buffer.from(buf.subarray(off, off + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    pos = off + len;
  }
  return { frames, rest: buf.subarray(pos) };
}

/**
 * Frames an endpoint must fail the connection on, one per case, and the close
 * code it must send back (RFC 6455 §5.2, §5.3, §5.4, §5.5, §7.4.1, §8.1). The
 * sender negotiated no extension, so RSV1 is reserved too. `mask` is the
 * sender's correct masking (true from a client); the masking case breaks it.
 * The same names are used by py_peer.py and expected by interop_client.cpp.
 */
export function garbageCases(mask) {
  const f = (opts) => frame({ mask, ...opts });
  const close = (code, reason) => closeFrame(code, reason, mask);
  return {
    'reserved-opcode': { expect: 1002, bytes: () => f({ opcode: 0x3, payload: 'x' }) },
    'reserved-control-opcode': { expect: 1002, bytes: () => f({ opcode: 0xb }) },
    'rsv2-set': { expect: 1002, bytes: () => f({ opcode: 0x1, rsv: 2, payload: 'hi' }) },
    'rsv1-without-extension': { expect: 1002, bytes: () => f({ opcode: 0x1, rsv: 4, payload: 'hi' }) },
    [mask ? 'unmasked-client-frame' : 'masked-server-frame']: {
      expect: 1002,
      bytes: () => frame({ opcode: 0x1, payload: 'hi', mask: !mask }),
    },
    'continuation-without-start': { expect: 1002, bytes: () => f({ opcode: 0x0, payload: 'x' }) },
    'fragmented-ping': { expect: 1002, bytes: () => f({ opcode: 0x9, fin: false, payload: 'p' }) },
    'long-ping': { expect: 1002, bytes: () => f({ opcode: 0x9, payload: Buffer.alloc(126, 0x61) }) },
    'bad-close-code': { expect: 1002, bytes: () => close(1005) },
    'one-byte-close': { expect: 1002, bytes: () => f({ opcode: 0x8, payload: Buffer.from([0x03]) }) },
    'invalid-utf8-text': {
      expect: 1007,
      bytes: () => f({ opcode: 0x1, payload: Buffer.from([0x68, 0x69, 0xff]) }),
    },
    'invalid-utf8-fragmented': {
      // "ok" + E2 82 | 28: the sequence turns invalid only in the second fragment.
      expect: 1007,
      bytes: () =>
        Buffer.concat([
          f({ opcode: 0x1, fin: false, payload: Buffer.from([0x6f, 0x6b, 0xe2, 0x82]) }),
          f({ opcode: 0x0, payload: Buffer.from([0x28]) }),
        ]),
    },
    'invalid-utf8-close-reason': { expect: 1007, bytes: () => close(1000, Buffer.from([0xff])) },
  };
}
