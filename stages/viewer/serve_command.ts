/**
 * `mimic3d serve <checkpoint-or-artifact> [--port 8080] [--host 127.0.0.1]`:
 * opens a trained generator in the browser viewer until Ctrl-C. The argument
 * is a checkpoint file, an artifact directory, or an artifact id (prefix) in
 * the store, e.g. what `import-checkpoint` printed.
 */
import type { Command } from "@commander-js/extra-typings";
import { defaultStoreRoot } from "../../pipeline/paths.ts";
import { isLoopback, startViewerServer } from "./server.ts";
import { resolveCheckpointPath } from "../io/checkpoint_ref.ts";

/** Registers `serve` on the CLI program. */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve an interactive WebGPU viewer of a generator checkpoint (or artifact dir)")
    .argument(
      "<checkpoint>",
      "G_ema.safetensors, an artifact directory, or an artifact id (prefix) in the store",
    )
    .option("--port <port>", "TCP port (0 = any free port)", "8080")
    .option(
      "--host <host>",
      "interface to listen on (beyond loopback, requests need the printed URL's token)",
      "127.0.0.1",
    )
    .action(async (checkpoint, options, command) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`--port must be an integer in [0, 65535], got '${options.port}'`);
      }
      if (!isLoopback(options.host)) {
        console.error(
          `note: listening on ${options.host}: only requests with the token in the URL below ` +
            "(or its cookie) are served; share that URL only with those who may use this GPU",
        );
      }
      const { store } = command.optsWithGlobals() as { store?: string };
      const target = await resolveCheckpointPath(checkpoint, store ?? defaultStoreRoot());
      const server = await startViewerServer(target, { port, hostname: options.host });
      console.log(`Mimic3D viewer of ${server.model.path}`);
      console.log(`  open ${server.url}  (GPU: ${server.model.gpu.name}; Ctrl-C stops)`);
      const stop = () => server.close();
      Deno.addSignalListener("SIGINT", stop);
      try {
        await server.finished;
      } finally {
        Deno.removeSignalListener("SIGINT", stop);
      }
    });
}
