/**
 * The native string-array scan of the GGUF header parser (`kernels/gguf_strings.c`): the same
 * checks as the TypeScript loop in `src/gguf/parse.ts`, at C speed, for the 408k strings of a
 * 128k-token vocabulary. The parser takes it as an option (the `gguf` layer stays free of FFI);
 * `load` passes it for local models.
 *
 * @module
 */

import { nativeLibrary, nativeLibraryOpen } from "./native.ts";

/**
 * Scans strings `first..n-1` of a string array at `pos` in `bytes[0, length)`: records where each
 * starts in `bounds` and stops before the first one it cannot accept (bytes not all buffered, too
 * long, not UTF-8). Returns the index it stopped at and the position after the last string.
 * The same shape as gguf's `StringScan` (src/gguf/parse.ts), declared here because `ffi/` sits
 * below `gguf/` and may not import it (tests/layers_test.ts).
 */
export type NativeStringScan = (
  bytes: Uint8Array,
  length: number,
  pos: number,
  first: number,
  n: number,
  bigEndian: boolean,
  maxLength: number,
  bounds: Uint32Array | Float64Array,
) => { next: number; pos: number };

const BIG_ENDIAN = 1;
const F64_BOUNDS = 2;

let scan: NativeStringScan | undefined;

/**
 * The native scan when the kernel library is open in this process (`load` opens it to guard its
 * mappings, `run` for its kernels), else `null`: opening the library only for this would cost more
 * than it saves (`inspect` scans in TypeScript).
 *
 * @example
 * ```ts
 * import { nativeKernels } from "./native.ts";
 * import { nativeStringScan } from "./gguf_scan.ts";
 * nativeKernels(); // opens the library
 * const scan = nativeStringScan();
 * if (scan) {
 *   // one string "hi": u64 length 2, then the bytes
 *   const bytes = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69]);
 *   const bounds = new Uint32Array(2);
 *   scan(bytes, bytes.length, 0, 0, 1, false, 1 << 30, bounds); // { next: 1, pos: 10 }
 * }
 * ```
 */
export function nativeStringScan(): NativeStringScan | null {
  if (scan !== undefined) return scan;
  if (!nativeLibraryOpen()) return null;
  const lib = nativeLibrary();
  if (!("symbols" in lib)) return null;
  const s = lib.symbols;
  const end = new BigInt64Array(1);
  scan = (bytes, length, pos, first, n, bigEndian, maxLength, bounds) => {
    const flags = (bigEndian ? BIG_ENDIAN : 0) | (bounds instanceof Float64Array ? F64_BOUNDS : 0);
    const next = s.bl_gguf_scan_strings(
      bytes,
      BigInt(length),
      BigInt(pos),
      BigInt(first),
      BigInt(n),
      flags,
      BigInt(maxLength),
      bounds,
      end,
    );
    return { next: Number(next), pos: Number(end[0]) };
  };
  return scan;
}
