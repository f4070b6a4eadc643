/**
 * Reading imports from TypeScript source text, for the tests that check the shape of the code
 * (`layers_test.ts`: imports look down the layers; `import_specifiers_test.ts`: no bare
 * specifiers). Comments are blanked first, so JSDoc examples are never taken for imports.
 *
 * @module
 */

/**
 * The code of a module with comments blanked (strings and templates kept).
 *
 * @example
 * ```ts
 * import { withoutComments } from "./source_scan.ts";
 * withoutComments("a // b").trimEnd(); // "a"
 * ```
 */
export function withoutComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i], d = text[i + 1];
    if (c === "/" && d === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && d === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * The specifiers a module imports: static `import`/`export … from` at the start of a line, side
 * effect imports, and dynamic `import("…")` with a literal specifier, outside comments.
 *
 * @example
 * ```ts
 * import { importsOf } from "./source_scan.ts";
 * importsOf('import { a } from "./a.ts";'); // ["./a.ts"]
 * ```
 */
export function importsOf(text: string): string[] {
  const code = withoutComments(text);
  const specs: string[] = [];
  const statement =
    /^(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|^import\s*["']([^"']+)["']/gm;
  for (const m of code.matchAll(statement)) specs.push(m[1] ?? m[2]);
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) specs.push(m[1]);
  return specs;
}
