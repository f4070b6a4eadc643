/**
 * Streaming text out of generated tokens: bytes of each piece are decoded as UTF-8 across token
 * boundaries, and `stop` strings end the reply; text that might be the start of a stop string
 * is held back until it is known not to be.
 *
 * @module
 */

/** Incremental decoder with stop strings. */
export class StopTextStream {
  readonly #stops: readonly string[];
  readonly #decoder = new TextDecoder();
  #held = "";
  #stopped = false;

  /**
   * A stream that ends at the first of `stops` (empty strings are ignored).
   *
   * @example
   * ```ts
   * import { StopTextStream } from "./text.ts";
   * const s = new StopTextStream(["END"]);
   * s.push(new TextEncoder().encode("Hi E")); // { text: "Hi ", stopped: false }
   * s.push(new TextEncoder().encode("ND!")); // { text: "", stopped: true }
   * ```
   */
  constructor(stops: readonly string[] = []) {
    this.#stops = stops.filter((s) => s.length > 0);
  }

  /** Whether a stop string was seen. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Adds a token's bytes; returns the text that can be shown now. */
  push(bytes: Uint8Array): { text: string; stopped: boolean } {
    if (this.#stopped) return { text: "", stopped: true };
    const buf = this.#held + this.#decoder.decode(bytes, { stream: true });
    let cut = -1;
    for (const s of this.#stops) {
      const at = buf.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.#stopped = true;
      this.#held = "";
      return { text: buf.slice(0, cut), stopped: true };
    }
    let keep = 0;
    for (const s of this.#stops) {
      for (let n = Math.min(s.length - 1, buf.length); n > keep; n--) {
        if (buf.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    this.#held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** The text still held back (at the end of a reply that did not stop on a string). */
  flush(): string {
    if (this.#stopped) return "";
    const rest = this.#held + this.#decoder.decode();
    this.#held = "";
    return rest;
  }
}
