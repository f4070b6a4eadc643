/**
 * Server metrics in the Prometheus text exposition format (version 0.0.4): request and token
 * counters, time-to-first-token and per-token latency histograms, active and queued sequences.
 *
 * @module
 */

/** Upper bounds (seconds) of the latency histograms' buckets. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A Prometheus histogram (cumulative buckets, sum and count). */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * A histogram with the given upper bounds (the `+Inf` bucket is implicit).
   *
   * @example
   * ```ts
   * import { Histogram } from "./metrics.ts";
   * const h = new Histogram([0.1, 1]);
   * h.observe(0.5);
   * h.count; // 1
   * ```
   */
  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    for (let i = 0; i < this.#bounds.length; i++) if (value <= this.#bounds[i]) this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** The exposition lines of this histogram named `name`. */
  lines(name: string): string[] {
    const out = this.#bounds.map((b, i) => `${name}_bucket{le="${b}"} ${this.#counts[i]}`);
    out.push(`${name}_bucket{le="+Inf"} ${this.#count}`);
    out.push(`${name}_sum ${this.#sum}`);
    out.push(`${name}_count ${this.#count}`);
    return out;
  }
}

/** Everything `GET /metrics` reports. */
export class ServerMetrics {
  /** Requests answered, by HTTP status. */
  readonly requests: Map<number, number> = new Map();
  /** Prompt tokens processed. */
  promptTokens = 0;
  /** Tokens generated. */
  generatedTokens = 0;
  /** Seconds from request to first token. */
  readonly ttft: Histogram = new Histogram();
  /** Seconds between consecutive tokens of a sequence. */
  readonly perToken: Histogram = new Histogram();

  /**
   * Counts one answered request.
   *
   * @example
   * ```ts
   * import { ServerMetrics } from "./metrics.ts";
   * const m = new ServerMetrics();
   * m.request(200);
   * m.render({ active: 0, queued: 0 }).includes('bitload_requests_total{code="200"} 1'); // true
   * ```
   */
  request(status: number): void {
    this.requests.set(status, (this.requests.get(status) ?? 0) + 1);
  }

  /** The exposition text, with the scheduler's current gauges. */
  render(gauges: { active: number; queued: number }): string {
    const lines: string[] = [
      "# HELP bitload_requests_total HTTP requests answered, by status code.",
      "# TYPE bitload_requests_total counter",
    ];
    for (const [code, n] of [...this.requests].sort((a, b) => a[0] - b[0])) {
      lines.push(`bitload_requests_total{code="${code}"} ${n}`);
    }
    lines.push(
      "# HELP bitload_prompt_tokens_total Prompt tokens processed.",
      "# TYPE bitload_prompt_tokens_total counter",
      `bitload_prompt_tokens_total ${this.promptTokens}`,
      "# HELP bitload_generated_tokens_total Tokens generated.",
      "# TYPE bitload_generated_tokens_total counter",
      `bitload_generated_tokens_total ${this.generatedTokens}`,
      "# HELP bitload_time_to_first_token_seconds Time from request to first generated token.",
      "# TYPE bitload_time_to_first_token_seconds histogram",
      ...this.ttft.lines("bitload_time_to_first_token_seconds"),
      "# HELP bitload_time_per_output_token_seconds Time between consecutive generated tokens.",
      "# TYPE bitload_time_per_output_token_seconds histogram",
      ...this.perToken.lines("bitload_time_per_output_token_seconds"),
      "# HELP bitload_sequences_active Sequences in a slot.",
      "# TYPE bitload_sequences_active gauge",
      `bitload_sequences_active ${gauges.active}`,
      "# HELP bitload_sequences_queued Sequences waiting for a slot.",
      "# TYPE bitload_sequences_queued gauge",
      `bitload_sequences_queued ${gauges.queued}`,
    );
    return lines.join("\n") + "\n";
  }
}
