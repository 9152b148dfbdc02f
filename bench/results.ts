/**
 * Where a bench's JSON goes: `bench/results/<date>-[<kind>-]<device><suffix>.json` (ignored; the
 * records worth keeping are copied to `bench/records/`), and `$OUT/<outName>` when the device
 * machine collects its output there.
 */
export async function saveResults<Json extends { device: string; date: string }>(
  json: Json,
  kind: string,
  outName: string,
  suffix = "",
): Promise<void> {
  const text = JSON.stringify(json, null, 2) + "\n";
  const device = json.device.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const path = new URL(`${json.date}-${kind ? `${kind}-` : ""}${device}${suffix}.json`, dir);
  await Deno.writeTextFile(path, text);
  console.log(`\nJSON: ${path.pathname}`);
  const out = Deno.env.get("OUT");
  if (out) await Deno.writeTextFile(`${out}/${outName}`, text);
}
