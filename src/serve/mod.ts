/**
 * Serving: an OpenAI-compatible HTTP server with continuous batching over the model's sequence
 * slots, Prometheus metrics, and llama-server's tokenize/detokenize endpoints.
 *
 * @example
 * ```ts ignore
 * import { engineFromModel, startServer } from "./mod.ts";
 * const server = startServer({ id: "model", engine: engineFromModel(model, 4), tokenizer, chat });
 * ```
 *
 * @module
 */

export {
  type BatchEngine,
  engineFromModel,
  type FinishReason,
  Scheduler,
  type SchedulerHooks,
  type SchedulerOptions,
  type SequenceHandle,
  type SequenceRequest,
} from "./scheduler.ts";
export { Histogram, LATENCY_BUCKETS, ServerMetrics } from "./metrics.ts";
export { StopTextStream } from "./text.ts";
export { type ChatModel, openChatModel, type OpenChatModelOptions } from "./open.ts";
export {
  MAX_BODY_BYTES,
  RETRY_AFTER_SECONDS,
  type RunningServer,
  type ServeModel,
  type ServeOptions,
  startServer,
} from "./server.ts";
