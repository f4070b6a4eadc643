/**
 * Regenerates `docs/schemas/*.schema.json` from the CLI's zod schemas (`src/cli/schemas.ts`) with
 * `z.toJSONSchema`: `deno run --allow-write=docs/schemas scripts/json_schemas.ts`, then
 * `deno fmt docs/schemas`. `tests/cli_json_test.ts` fails when the committed files differ.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { z } from "npm:zod@^4";
import { CLI_JSON_SCHEMAS } from "../src/cli/schemas.ts";

/**
 * The JSON Schema of each command's `--json` output, by file name.
 *
 * @example
 * ```ts ignore
 * import { generatedSchemas } from "./json_schemas.ts";
 * generatedSchemas()["inspect.schema.json"].title; // "bitload inspect --json"
 * ```
 */
export function generatedSchemas(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, schema] of Object.entries(CLI_JSON_SCHEMAS)) {
    const json = z.toJSONSchema(schema, { io: "output", unrepresentable: "any" }) as Record<
      string,
      unknown
    >;
    out[`${name}.schema.json`] = {
      title: `bitload ${name === "compare-logits" ? name : name.replace("-", " --")} --json`,
      ...json,
    };
  }
  return out;
}

if (import.meta.main) {
  const dir = fileURLToPath(new URL("../docs/schemas/", import.meta.url));
  await Deno.mkdir(dir, { recursive: true });
  for (const [file, schema] of Object.entries(generatedSchemas())) {
    await Deno.writeTextFile(dir + file, JSON.stringify(schema, null, 2) + "\n");
    console.log(`wrote docs/schemas/${file}`);
  }
}
