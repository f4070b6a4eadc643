import assert from "node:assert/strict";
import { integerOption, UsageError } from "../src/cli/output.ts";
import { runCli } from "./support/cli.ts";

Deno.test("integerOption accepts safe integers at or above the minimum and names the flag otherwise", () => {
  assert.equal(integerOption("threads", undefined, 1), undefined);
  assert.equal(integerOption("threads", "4", 1), 4);
  assert.equal(integerOption("seed", "0", 0), 0);
  for (
    const [text, min] of [["0", 1], ["-1", 0], ["1.5", 0], ["", 0], [" ", 1], ["x", 1], [
      "1e300",
      0,
    ]] as const
  ) {
    assert.throws(
      () => integerOption("threads", text, min),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          `--threads must be ${min === 1 ? "a positive" : "a non-negative"} integer, got "${text}"`,
      `"${text}" with min ${min}`,
    );
  }
});

Deno.test("the commands report a bad integer option as a usage error (exit 2)", async () => {
  for (
    const args of [["dequant", "x.gguf", "--tensor", "t", "--out", "o.bin", "--threads", "0"], [
      "load",
      "x.gguf",
      "--batch-layers",
      "0",
    ]]
  ) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, /^bitload: --\S+ must be a positive integer, got "0"/, args.join(" "));
  }
});
