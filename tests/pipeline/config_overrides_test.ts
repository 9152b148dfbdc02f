/** `--set key=value`: values take the type the schema expects, and `null` clears a nullable key. */
import { z } from "zod";
import { parseValue } from "../../pipeline/config_overrides.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

const schema = z.strictObject({
  stage: z.strictObject({
    shippedRun: z.string().min(1).nullable().default("runs/a.zip"),
    name: z.string().default("x"),
    kimg: z.number().default(1),
  }),
});

Deno.test("--set: null clears a nullable key; elsewhere it stays what the type reads", async () => {
  assertEquals(parseValue(schema, "stage.shippedRun", "null"), null);
  assertEquals(parseValue(schema, "stage.shippedRun", "runs/b.zip"), "runs/b.zip");
  assertEquals(parseValue(schema, "stage.name", "null"), "null");
  await assertThrows(() => parseValue(schema, "stage.kimg", "null"), "expected a number");
});
