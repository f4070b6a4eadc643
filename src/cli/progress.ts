/**
 * A progress bar on stderr, drawn only when stderr is a terminal (so logs and pipes stay clean).
 *
 * @module
 */

import { formatBytes } from "./output.ts";

/** A progress display for a byte count. */
export interface Progress {
  /** Shows `done` of `total` bytes, with an optional label replacing the bar's own. */
  update(done: number, total: number, label?: string): void;
  /** Clears the bar. */
  done(): void;
}

const encoder = new TextEncoder();

/** Where a bar draws (tests); by default stderr, and only when it is a terminal. */
export interface ProgressOptions {
  /** Writes one frame (default: to stderr). */
  write?: (text: string) => void;
  /** Whether to draw at all (default: whether stderr is a terminal). */
  isTerminal?: boolean;
}

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
export function progressBar(label: string, options: ProgressOptions = {}): Progress {
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  if (!(options.isTerminal ?? Deno.stderr.isTerminal())) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  const started = performance.now();
  return {
    update(done, total, current) {
      const now = performance.now();
      if (now - last < 50 && done < total) return;
      last = now;
      const width = 30;
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(fraction * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const eta = rate > 0 && done < total ? ` ETA ${((total - done) / rate).toFixed(1)} s` : "";
      const text = `\r\x1b[2K${current ?? label} ${bar} ${
        (fraction * 100).toFixed(0).padStart(3)
      }% ${formatBytes(done)} / ${formatBytes(total)} ${formatBytes(rate)}/s${eta}`;
      write(text);
      drawn = true;
    },
    done() {
      if (drawn) write("\r\x1b[2K");
    },
  };
}
