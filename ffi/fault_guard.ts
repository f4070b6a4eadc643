/**
 * Typed access to the native fault guard (`kernels/fault_guard.c`): a SIGBUS inside a guarded
 * mapping (a model file truncated by another process) maps a zero page and is counted instead of
 * killing the process. `null` where the native library is unavailable (no compiler, Windows):
 * callers then rely on `fstat` checks alone.
 *
 * @module
 */

import { nativeLibrary } from "./native.ts";

/** The installed guard. */
export interface FaultGuard {
  /** Guards `length` bytes at `pointer`; returns the slot, or -1 when every slot is taken. */
  add(pointer: Deno.PointerObject, length: number): number;
  /** Stops guarding `slot` (before its range is unmapped). */
  remove(slot: number): void;
  /** Faults caught in `slot`'s range since it was added. */
  events(slot: number): number;
}

let guard: FaultGuard | null | undefined;

/**
 * The fault guard, its SIGBUS handler installed on first call; `null` when unavailable.
 *
 * @example
 * ```ts ignore
 * import { faultGuard } from "./fault_guard.ts";
 * const guard = faultGuard();
 * const slot = guard?.add(pointer, size) ?? -1;
 * if (guard && guard.events(slot) > 0) throw new Error("the file shrank under its mapping");
 * ```
 */
export function faultGuard(): FaultGuard | null {
  if (guard !== undefined) return guard;
  guard = null;
  if (Deno.build.os === "windows") return guard;
  const lib = nativeLibrary();
  if (!("symbols" in lib)) return guard;
  const s = lib.symbols;
  if (s.bl_fault_guard_install() !== 0) return guard;
  guard = {
    add: (pointer, length) =>
      s.bl_fault_guard_add(BigInt(Deno.UnsafePointer.value(pointer)), BigInt(length)),
    remove: (slot) => s.bl_fault_guard_remove(slot),
    events: (slot) => Number(s.bl_fault_guard_events(slot)),
  };
  return guard;
}
