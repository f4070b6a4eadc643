/**
 * The JSON form of a device list (`--devices FILE.json`), validated with zod. Apart from
 * `./devices.ts` so that planning and loading, which never read such a file, do not load zod
 * (it costs start-up time); `loadDevices` imports this module when it reads a `.json` file.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { Device, DeviceJson } from "./devices.ts";
import { PlanError } from "./errors.ts";

/** zod schema of one device in a `--devices FILE.json`. */
export const DeviceSchema: z.ZodType<DeviceJson> = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, "device names are letters, digits and _.:-"),
  kind: z.enum(["cpu", "cuda", "rpc"]),
  totalBytes: z.number().int().nonnegative(),
  freeBytes: z.number().int().nonnegative(),
  bandwidth: z.number().positive().optional(),
  host: z.string().regex(/^[^\s:]+:\d{1,5}$/, "host is host:port").optional(),
}).refine((d) => d.freeBytes <= d.totalBytes, {
  message: "freeBytes must not exceed totalBytes",
}).refine((d) => d.kind !== "rpc" || d.host !== undefined, {
  message: "an rpc device needs host (host:port)",
});

/** zod schema of a devices file: an array of devices, or `{ "devices": [...] }`. */
export const DeviceFileSchema: z.ZodType<DeviceJson[] | { devices: DeviceJson[] }> = z.union([
  z.array(DeviceSchema),
  z.strictObject({ devices: z.array(DeviceSchema) }),
]);

/**
 * Parses and validates the JSON form of a device list (see {@link DeviceFileSchema}). Throws
 * {@link PlanError} `BAD_DEVICE_FILE` with every problem zod found, prefixed by `source`.
 *
 * @example
 * ```ts
 * import { parseDeviceFile } from "./device_file.ts";
 * const devices = parseDeviceFile(
 *   '[{"name":"cpu","kind":"cpu","totalBytes":1000,"freeBytes":800}]',
 * );
 * devices[0].freeBytes; // 800
 * ```
 */
export function parseDeviceFile(text: string, source = "devices file"): Device[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PlanError("BAD_DEVICE_FILE", `Cannot parse ${source}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  // Parse with the branch the input is meant for, so errors name fields, not "invalid union".
  const r = Array.isArray(json)
    ? z.array(DeviceSchema).safeParse(json)
    : z.strictObject({ devices: z.array(DeviceSchema) }).safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new PlanError("BAD_DEVICE_FILE", `Invalid ${source}: ${issues.join("; ")}`);
  }
  const devices: Device[] = (Array.isArray(r.data) ? r.data : r.data.devices).map((d) => ({
    ...d,
    source,
  }));
  const names = new Set<string>();
  for (const d of devices) {
    if (names.has(d.name)) {
      throw new PlanError("BAD_DEVICE_FILE", `Invalid ${source}: "${d.name}" appears twice`);
    }
    names.add(d.name);
  }
  if (devices.filter((d) => d.kind === "cpu").length > 1) {
    throw new PlanError("BAD_DEVICE_FILE", `Invalid ${source}: more than one cpu device`);
  }
  return devices;
}
