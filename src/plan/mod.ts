/**
 * The device placement planner's public API, for the root `mod.ts` to re-export: device
 * inventory, exact memory accounting, strategies with their fallback chain, and the llama.cpp
 * flags of a plan.
 *
 * ```ts ignore
 * import { detectDevices, planPlacement } from "./mod.ts";
 * const plan = planPlacement(model, detectDevices(), { ctx: 4096 });
 * ```
 *
 * @module
 */

export {
  type CgroupLimit,
  cudaDevices,
  detectDevices,
  type DetectDevicesOptions,
  type Device,
  type DeviceJson,
  type DeviceKind,
  loadDevices,
  type MemInfo,
  type NumaNode,
  parseDeviceSpec,
  parseMemInfo,
  readCgroupLimit,
  readNumaNodes,
} from "./devices.ts";
export { parseDeviceFile } from "./device_file.ts";
export { PlanError, type PlanErrorCode } from "./errors.ts";
export { parseSize, SizeError, type SizeErrorCode } from "../common/size.ts";
export {
  accountWeights,
  applyMargins,
  DEFAULT_MARGINS,
  type DeviceLoad,
  type DeviceNeed,
  isKvType,
  KV_TYPES,
  type KvCacheBytes,
  kvCacheBytes,
  type KvCacheOptions,
  type KvType,
  layerIndex,
  type Margins,
  type ModelShape,
  modelShape,
  scratchBytes,
  type ScratchOptions,
  type TensorRole,
  tensorRole,
  type WeightAccounting,
} from "./accounting.ts";
export {
  type DeviceUsage,
  llamaCppLayerSplit,
  type MemoryVerdict,
  type PlacementPlan,
  type PlanOptions,
  planPlacement,
  type PlanStep,
  type PlanTensor,
  type PrecisionSuggestion,
  STRATEGIES,
  type Strategy,
  type TensorOverride,
  validateMemoryRequirements,
} from "./strategies.ts";
export {
  bufferTypeName,
  type EmitOptions,
  llamaCppArgs,
  type LlamaCppCommand,
  namesRegex,
} from "./emit_llamacpp.ts";
export {
  bitnetShapes,
  headerOnlyModel,
  llama70bShapes,
  type TensorShape,
  type TransformerShapeOptions,
  transformerShapes,
} from "./shapes.ts";
