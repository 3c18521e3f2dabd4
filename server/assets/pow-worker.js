// Sổ Tiêm — one worker of the complaint form's proof of work. It tries the numbers
// start, start + step, start + 2·step, … until SHA-256("challenge:number") begins with the asked
// number of zero bits, and posts the number found. The hash is computed here, synchronously,
// from the midstate of the challenge's whole 64-byte blocks (computed once): one or two
// compressions a try, instead of an awaited crypto.subtle call each (about 20 times slower).
// The server checks the answer with its own SHA-256; nothing here is a secret.
"use strict";

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const H0 = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const w = new Uint32Array(64);

/** One SHA-256 compression of the 64 bytes of `block` from `at`, into `h` (8 words). */
function compress(h, block, at) {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    w[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15];
    const b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (k + S1 + ch + K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
}

/** Leading zero bits of the digest's first two words (the server asks at most 32). */
function zeroBits(h) {
  const first = Math.clz32(h[0]);
  return first < 32 ? first : 32 + Math.clz32(h[1]);
}

onmessage = (event) => {
  const { challenge, bits, start, step } = event.data;
  const prefix = new TextEncoder().encode(challenge + ":");
  const whole = Math.floor(prefix.length / 64);
  const mid = new Int32Array(H0);
  for (let b = 0; b < whole; b++) compress(mid, prefix, b * 64);
  const tail = prefix.subarray(whole * 64);
  const block = new Uint8Array(128);
  block.set(tail);
  const h = new Int32Array(8);
  for (let i = start; ; i += step) {
    const digits = String(i);
    let n = tail.length;
    for (let d = 0; d < digits.length; d++) block[n++] = digits.charCodeAt(d);
    block[n++] = 0x80;
    const end = n + 8 <= 64 ? 64 : 128;
    block.fill(0, n, end);
    const length = (prefix.length + digits.length) * 8;
    block[end - 4] = length >>> 24;
    block[end - 3] = length >>> 16;
    block[end - 2] = length >>> 8;
    block[end - 1] = length;
    h.set(mid);
    compress(h, block, 0);
    if (end === 128) compress(h, block, 64);
    if (zeroBits(h) >= bits) {
      postMessage({ solution: digits });
      return;
    }
  }
};
