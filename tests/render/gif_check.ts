/** A GIF structure walker for the tests: header, screen size and frames, without decoding pixels. */

/** What `readGifStructure` found. */
export interface GifStructure {
  version: string;
  width: number;
  height: number;
  frames: { width: number; height: number; delayCs: number }[];
  loops: boolean;
}

/** Walks a GIF's blocks (throws on anything malformed or truncated). */
export function readGifStructure(bytes: Uint8Array): GifStructure {
  const text = (from: number, length: number) =>
    String.fromCharCode(...bytes.subarray(from, from + length));
  const u16 = (at: number) => bytes[at] | (bytes[at + 1] << 8);
  const need = (at: number) => {
    if (at >= bytes.length) throw new Error(`GIF truncated at byte ${at}`);
  };
  const version = text(0, 6);
  if (version !== "GIF89a" && version !== "GIF87a") throw new Error(`not a GIF: "${version}"`);
  const result: GifStructure = { version, width: u16(6), height: u16(8), frames: [], loops: false };
  let at = 13;
  if (bytes[10] & 0x80) at += 3 * (1 << ((bytes[10] & 7) + 1));
  const skipSubBlocks = () => {
    for (;;) {
      need(at);
      const size = bytes[at++];
      if (size === 0) return;
      at += size;
    }
  };
  let delayCs = 0;
  for (;;) {
    need(at);
    const block = bytes[at++];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      const label = bytes[at++];
      if (label === 0xf9) delayCs = u16(at + 2);
      if (label === 0xff && text(at + 1, 11) === "NETSCAPE2.0") result.loops = true;
      skipSubBlocks();
    } else if (block === 0x2c) {
      const frame = { width: u16(at + 4), height: u16(at + 6), delayCs };
      const flags = bytes[at + 8];
      at += 9;
      if (flags & 0x80) at += 3 * (1 << ((flags & 7) + 1));
      at++; // LZW minimum code size
      skipSubBlocks();
      result.frames.push(frame);
    } else {
      throw new Error(`unexpected GIF block 0x${block.toString(16)} at byte ${at - 1}`);
    }
  }
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes after the GIF trailer`);
  return result;
}
