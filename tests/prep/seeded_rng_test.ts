import { assertEquals } from "../helpers/assert.ts";
import { SeededRng } from "../../stages/prep/seeded_rng.ts";

Deno.test("seeded rng: same seed → same stream; items and seeds are independent", () => {
  const draw = (rng: SeededRng) => Array.from({ length: 8 }, () => rng.nextUint32());
  assertEquals(draw(new SeededRng(42)), draw(new SeededRng(42)));
  assertEquals(draw(SeededRng.forItem(1, 5)), draw(SeededRng.forItem(1, 5)));
  const streams = [
    draw(SeededRng.forItem(1, 5)),
    draw(SeededRng.forItem(1, 6)),
    draw(SeededRng.forItem(2, 5)),
  ];
  assertEquals(new Set(streams.map((s) => s.join())).size, 3);
});

Deno.test("seeded rng: uniform and normal have the right moments", () => {
  const rng = new SeededRng(7);
  const n = 20000;
  const u = Array.from({ length: n }, () => rng.uniform());
  const g = Array.from({ length: n }, () => rng.normal());
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const variance = (a: number[]) => {
    const m = mean(a);
    return mean(a.map((v) => (v - m) ** 2));
  };
  assertEquals(Math.abs(mean(u) - 0.5) < 0.01, true);
  assertEquals(u.every((v) => v >= 0 && v < 1), true);
  assertEquals(Math.abs(mean(g)) < 0.03, true);
  assertEquals(Math.abs(variance(g) - 1) < 0.04, true);
});
