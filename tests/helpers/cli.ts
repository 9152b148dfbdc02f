/** Runs the project's CLI (`mod.ts`) in a subprocess, as a user would. */
import { fileURLToPath } from "node:url";

/** Path of `mod.ts`. */
export const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

/** `deno run -A mod.ts ...args` → exit code and decoded output (colours off). */
export async function cli(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}
