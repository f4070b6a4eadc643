/**
 * `deno task install`: writes a `bitload` launcher that runs this checkout's CLI with the Deno
 * binary that ran this script (an absolute path: the launcher works without `deno` on `PATH`,
 * and skips npm's `npx`/node wrapper, which costs about half a second per call).
 *
 * The launcher goes to the first of these that is on `PATH` and writable: `$BITLOAD_INSTALL_DIR`
 * (always, even off `PATH`), `~/.local/bin`, `~/bin`, `~/.deno/bin`, `/usr/local/bin`. When none
 * is on `PATH`, it goes to `~/.deno/bin` and the script prints the one line to add to the shell.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const main = join(root, "src", "cli", "main.ts");
const config = join(root, "deno.json");
const home = Deno.env.get("HOME") ?? "";
const path = (Deno.env.get("PATH") ?? "").split(":").filter((p) => p !== "");
const explicit = Deno.env.get("BITLOAD_INSTALL_DIR");

function writable(dir: string): boolean {
  try {
    Deno.mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.bitload-install-${Deno.pid}`);
    Deno.writeTextFileSync(probe, "");
    Deno.removeSync(probe);
    return true;
  } catch {
    return false;
  }
}

const candidates = [
  join(home, ".local", "bin"),
  join(home, "bin"),
  join(home, ".deno", "bin"),
  "/usr/local/bin",
];
const onPath = candidates.find((d) => path.includes(d) && writable(d));
const dir = explicit ?? onPath ?? join(home, ".deno", "bin");
Deno.mkdirSync(dir, { recursive: true });
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const launcher = `#!/bin/sh
# bitload launcher written by \`deno task install\` (${new Date().toISOString().slice(0, 10)})
exec ${quote(Deno.execPath())} run --allow-read --allow-write --allow-env --allow-ffi \\
  --allow-run --allow-net --config ${quote(config)} ${quote(main)} "$@"
`;
const target = join(dir, "bitload");
const temp = `${target}.${Deno.pid}.tmp`;
Deno.writeTextFileSync(temp, launcher, { mode: 0o755 });
Deno.renameSync(temp, target);
console.log(`installed ${target} (runs ${main} with ${Deno.execPath()})`);
if (!path.includes(dir)) {
  console.log(`${dir} is not on PATH; add it once with:`);
  console.log(`  echo 'export PATH="${dir}:$PATH"' >> ~/.profile && export PATH="${dir}:$PATH"`);
} else console.log("try: bitload --help");
