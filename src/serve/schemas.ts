/**
 * Request bodies of the server's endpoints (OpenAI chat/completions and llama-server's
 * tokenize/detokenize shapes), validated with zod. Unknown fields are ignored, as OpenAI's
 * clients send fields a server may not use.
 *
 * @module
 */

import { z } from "npm:zod@^4";

const sampling = {
  model: z.string().optional(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(16)]).nullish(),
  n: z.number().int().nullish(),
  ignore_eos: z.boolean().nullish(),
};

const textPart = z.object({ type: z.literal("text"), text: z.string() });

/** One chat message; `content` may be a string or an array of text parts. */
export const chatMessageSchema = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(z.unknown()).optional(),
  tool_call_id: z.string().optional(),
});

/** `POST /v1/chat/completions`. */
export const chatRequestSchema = z.object({
  ...sampling,
  messages: z.array(chatMessageSchema).min(1),
  tools: z.array(z.unknown()).nullish(),
});

/** `POST /v1/completions`: `prompt` is text or token ids. */
export const completionRequestSchema = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.number().int().min(0)).min(1)]),
});

/** `POST /tokenize` (llama-server). */
export const tokenizeRequestSchema = z.object({
  content: z.string(),
  add_special: z.boolean().optional(),
  parse_special: z.boolean().optional(),
});

/** `POST /detokenize` (llama-server). */
export const detokenizeRequestSchema = z.object({
  tokens: z.array(z.number().int().min(0)),
});

/** A validated chat request. */
export type ChatRequest = z.infer<typeof chatRequestSchema>;
/** A validated completion request. */
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/**
 * One line naming what is wrong with a body, from a zod error.
 *
 * @example
 * ```ts
 * import { describeIssues, tokenizeRequestSchema } from "./schemas.ts";
 * const r = tokenizeRequestSchema.safeParse({ content: 3 });
 * if (!r.success) describeIssues(r.error); // "content: Invalid input: expected string, received number"
 * ```
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((i) =>
    `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`
  ).join("; ");
}
