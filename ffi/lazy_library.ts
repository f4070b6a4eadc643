/**
 * A native library whose functions are bound on first use. `Deno.dlopen` compiles a call
 * trampoline for every function of the symbol table it is given: 0.5–1 ms each, 35–60 ms for the
 * 55 functions of the kernel library on a 2-core machine, more than a whole `bitload load` of a
 * warm model spends mapping it. A command calls a handful of them (`load`: the ABI version, the
 * SIGBUS guard, the string scan), so each function is bound by its own `Deno.dlopen` of the same
 * path (the loader keeps one copy of the library; a second open only counts a reference) the first
 * time it is read.
 *
 * Every name is still resolved when the library is opened (as statics, which costs no trampoline),
 * so a library that lacks a function is refused at open time, as with a plain `Deno.dlopen`.
 *
 * @module
 */

/** What {@link openLazyLibrary} opens: the functions, and which of them to bind at once. */
export interface LazyLibrarySpec<S extends Deno.ForeignLibraryInterface> {
  /** The whole symbol table (functions only). */
  symbols: S;
  /** Functions bound when the library is opened (e.g. the ABI probe). */
  eager: readonly (keyof S & string)[];
}

/**
 * Opens `path` like `Deno.dlopen(path, spec.symbols)` — same `symbols` object, same `close()` —
 * but binds each function other than `spec.eager` when it is first read. Throws as `Deno.dlopen`
 * does when the file or any symbol is missing.
 *
 * @example
 * ```ts ignore
 * import { openLazyLibrary } from "./lazy_library.ts";
 * const lib = openLazyLibrary("/tmp/libm.so.6", {
 *   symbols: { cos: { parameters: ["f64"], result: "f64" } },
 *   eager: [],
 * });
 * console.log(lib.symbols.cos(0)); // 1 (bound here)
 * lib.close();
 * ```
 */
export function openLazyLibrary<S extends Deno.ForeignLibraryInterface>(
  path: string,
  spec: LazyLibrarySpec<S>,
): Deno.DynamicLibrary<S> {
  const eager = new Set<string>(spec.eager);
  const table: Deno.ForeignLibraryInterface = {};
  for (const [name, definition] of Object.entries(spec.symbols)) {
    // the other names as statics: resolved (and checked) now, no trampoline compiled
    table[name] = eager.has(name) ? definition : { type: "pointer" };
  }
  const handles: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>[] = [Deno.dlopen(path, table)];
  const symbols: Record<string, unknown> = {};
  let closed = false;
  for (const name of Object.keys(spec.symbols)) {
    if (eager.has(name)) {
      symbols[name] = handles[0].symbols[name];
      continue;
    }
    Object.defineProperty(symbols, name, {
      configurable: true,
      enumerable: true,
      get() {
        if (closed) throw new Error(`${path}: the library was closed`);
        const handle = Deno.dlopen(path, { [name]: spec.symbols[name] });
        handles.push(handle);
        const value = handle.symbols[name];
        Object.defineProperty(symbols, name, { value, enumerable: true, writable: false });
        return value;
      },
    });
  }
  return {
    symbols,
    close() {
      if (closed) return;
      closed = true;
      for (const handle of handles) handle.close();
    },
  } as unknown as Deno.DynamicLibrary<S>;
}
