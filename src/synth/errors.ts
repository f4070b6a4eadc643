/**
 * The typed error of the synthetic-model writers.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a synthetic model cannot be written. */
export type SynthErrorCode = "BAD_OPTION"; // a shape option out of range or inconsistent with the others (dim, heads, vocab…)

/**
 * A synthetic model's options were refused.
 *
 * @example
 * ```ts
 * import { SynthError } from "./errors.ts";
 * import { bitnetModelParts } from "./bitnet_model.ts";
 * try {
 *   bitnetModelParts({ dim: 100 });
 * } catch (e) {
 *   if (e instanceof SynthError) console.log(e.code); // BAD_OPTION
 * }
 * ```
 */
export class SynthError extends BitloadError<SynthErrorCode> {}
