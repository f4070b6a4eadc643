/**
 * The typed error of planning: device lists, memory accounting and placement options.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons planning fails. */
export type PlanErrorCode =
  | "BAD_DEVICE_SPEC" // a device spec string (`cpu:32GiB,cuda0:24GiB`) does not parse
  | "BAD_DEVICE_FILE" // a devices JSON file does not parse or fails its schema
  | "NO_MEMINFO" // /proc/meminfo is unreadable or has no MemTotal: CPU memory is unknown
  | "BAD_OPTION" // a planning option out of range (context, batch, margins, KV type, override)
  | "BAD_SHAPE"; // a synthetic shape names an unknown type or a size that is not whole blocks

/**
 * Planning was asked something it cannot answer. A plan that does not fit is not an error: it is
 * a plan with `status: "refused"` and the numbers.
 *
 * @example
 * ```ts
 * import { PlanError } from "./errors.ts";
 * import { parseDeviceSpec } from "./devices.ts";
 * try {
 *   parseDeviceSpec("gpu:8GiB");
 * } catch (e) {
 *   if (e instanceof PlanError) console.log(e.code); // BAD_DEVICE_SPEC
 * }
 * ```
 */
export class PlanError extends BitloadError<PlanErrorCode> {}
