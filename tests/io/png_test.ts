import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { decodePng, encodePng } from "../../stages/io/png.ts";
import { encode } from "fast-png";
import { testImage } from "./fixtures.ts";

Deno.test("png: encode → decode gives identical pixels (gray, RGB, RGBA)", () => {
  for (const channels of [1, 3, 4]) {
    const image = testImage(7, 5, channels, channels);
    const decoded = decodePng(encodePng(image), "t.png");
    assertEquals(decoded, { ...image, data: decoded.data });
    assertEquals([...decoded.data], [...image.data]);
  }
});

Deno.test("png: encoding is deterministic", () => {
  const image = testImage(16, 16, 3);
  assertEquals([...encodePng(image)], [...encodePng(image)]);
});

Deno.test("png: 16-bit and palette images decode to 8-bit RGB/gray", () => {
  const sixteen = encode({
    width: 2,
    height: 1,
    channels: 1,
    depth: 16,
    data: new Uint16Array([0, 65535]),
  });
  assertEquals([...decodePng(sixteen, "a.png").data], [0, 255]);
  const palette = encode({
    width: 2,
    height: 1,
    channels: 1,
    depth: 8,
    data: new Uint8Array([1, 0]),
    palette: [[10, 20, 30], [40, 50, 60]],
  });
  const decoded = decodePng(palette, "p.png");
  assertEquals(decoded.channels, 3);
  assertEquals([...decoded.data], [40, 50, 60, 10, 20, 30]);
});

Deno.test("png: truncated, corrupt and non-PNG bytes are errors naming the source", async () => {
  const png = encodePng(testImage(32, 32, 3));
  await assertThrows(
    () => decodePng(png.subarray(0, png.length - 20), "cut.png"),
    /cut\.png: .*truncated/,
  );
  const corrupt = png.slice();
  corrupt.fill(0xaa, 40, 80); // inside IDAT: CRC mismatch or bad zlib stream
  await assertThrows(() => decodePng(corrupt, "bad.png"), /bad\.png: not a valid PNG/);
  await assertThrows(
    () => decodePng(new TextEncoder().encode("hello"), "x.png"),
    /x\.png: .*signature/,
  );
});
