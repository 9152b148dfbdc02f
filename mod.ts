/**
 * Mimic3D-TS: public API, and the CLI when run as main (`deno run -A mod.ts --help`).
 * @module
 */
export * from "./kernels/mod.ts";
export { buildCli, main } from "./cli.ts";

if (import.meta.main) {
  Deno.exit(await (await import("./cli.ts")).main(Deno.args));
}
