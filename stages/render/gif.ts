/**
 * Animated GIFs through `gifenc`: each frame quantised to its own 256-colour
 * palette (faces and depth maps need every colour they can get), looping forever.
 * @module
 */
// gifenc ships CommonJS without types: its namespace comes through the default import.
import gifenc from "gifenc";
import type { PixelImage } from "../io/png.ts";

type Palette = number[][];
interface GifEncoderStream {
  writeFrame(
    index: Uint8Array,
    width: number,
    height: number,
    options: { palette: Palette; delay: number; repeat: number },
  ): void;
  finish(): void;
  bytes(): Uint8Array;
}
const { GIFEncoder, quantize, applyPalette } = gifenc as {
  GIFEncoder: () => GifEncoderStream;
  quantize: (rgba: Uint8Array, colours: number) => Palette;
  applyPalette: (rgba: Uint8Array, palette: Palette) => Uint8Array;
};

/** Encodes same-sized RGB or RGBA frames as a looping GIF, `delayMs` per frame. */
export function encodeGif(frames: readonly PixelImage[], delayMs: number): Uint8Array {
  if (frames.length === 0) throw new Error("encodeGif: no frames");
  const { width, height } = frames[0];
  const gif = GIFEncoder();
  frames.forEach((frame, i) => {
    if (frame.width !== width || frame.height !== height) {
      throw new Error(
        `encodeGif: frame ${i} is ${frame.width}×${frame.height}, not ${width}×${height}`,
      );
    }
    const rgba = toRgba(frame);
    const palette = quantize(rgba, 256);
    gif.writeFrame(applyPalette(rgba, palette), width, height, {
      palette,
      delay: delayMs,
      repeat: 0,
    });
  });
  gif.finish();
  return gif.bytes();
}

function toRgba(frame: PixelImage): Uint8Array {
  if (frame.channels === 4) return frame.data;
  if (frame.channels !== 3) throw new Error(`encodeGif: ${frame.channels}-channel frame`);
  const pixels = frame.width * frame.height;
  const rgba = new Uint8Array(pixels * 4);
  for (let i = 0; i < pixels; i++) {
    rgba[4 * i] = frame.data[3 * i];
    rgba[4 * i + 1] = frame.data[3 * i + 1];
    rgba[4 * i + 2] = frame.data[3 * i + 2];
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}
