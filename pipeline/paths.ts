/** Small path helpers shared by the pipeline modules. */
import { fileURLToPath } from "node:url";

/** The local path of a `file:` URL. */
export function fromFileUrl(url: string | URL): string {
  return fileURLToPath(url);
}

/** Default store root: `$MIMIC3D_STORE`, else `.mimic3d` in the working directory. */
export function defaultStoreRoot(): string {
  return Deno.env.get("MIMIC3D_STORE") || ".mimic3d";
}
