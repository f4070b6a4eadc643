/**
 * A progress bar on stderr, drawn only when stderr is a terminal (so logs and pipes stay clean).
 *
 * @module
 */

import { formatBytes } from "./output.ts";

/** A progress display for a byte count. */
export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

const encoder = new TextEncoder();

/**
 * Creates a progress bar labelled `label`; a no-op when stderr is not a TTY.
 *
 * @example
 * ```ts
 * import { progressBar } from "./progress.ts";
 * const bar = progressBar("writing");
 * bar.update(50, 100);
 * bar.done();
 * ```
 */
export function progressBar(label: string): Progress {
  if (!Deno.stderr.isTerminal()) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < 50 && done < total) return;
      last = now;
      const width = 30;
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(fraction * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const text = `\r${label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${
        formatBytes(done)
      } / ${formatBytes(total)}`;
      Deno.stderr.writeSync(encoder.encode(text));
      drawn = true;
    },
    done() {
      if (drawn) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
    },
  };
}
