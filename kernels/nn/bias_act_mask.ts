/**
 * The mask bias_act keeps for its backward instead of its input: two bits an element,
 * 16 elements a u32 word (WGSL has no smaller storage type). Bit 0 says x + b > 0 (the
 * activation's slope is 1), bit 1 that act(x + b)·gain fell inside the clamp.
 *
 * Element i lies in word i mod W at bits 2·⌊i / W⌋, with W = ⌈n / 16⌉ words: the forward
 * runs a thread per word over the elements W apart, so neighbouring threads touch
 * neighbouring elements, and each thread writes its whole word (no atomics, the same bits
 * every run); a gradient's thread per element reads its word's two bits.
 */
import { Tensor } from "../tensor/tensor.ts";
import { flatIndex, WG } from "../ops/params.ts";

/** Elements a word holds. */
const PER_WORD = 16;

/** The mask's words for `size` elements. */
export function maskWords(size: number): number {
  return Math.ceil(size / PER_WORD);
}

/** An unwritten mask for `size` elements: a tensor of words, so memory scopes keep and free it. */
export function emptyMask(size: number): Tensor {
  const mask = Tensor.empty([maskWords(size)], "gpu", "i32");
  mask.name = "bias_act mask";
  return mask;
}

/** WGSL: the bit an element's code sets when x + b > 0. */
export const POSITIVE = "1u";
/** WGSL: the bit an element's code sets when act(x + b)·gain is inside the clamp. */
export const INSIDE = "2u";

/**
 * WGSL entry point of a forward that writes `mask: array<u32>` beside its output: `body`
 * computes element `i` and sets `code` (its bits) for each of the word's elements. The
 * element count is `P(0)`, the word count `P(words)`.
 */
export function maskedMain(words: number, body: string): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = ${flatIndex()};
  let words = P(${words}u);
  if (w >= words) { return; }
  var bits = 0u;
  for (var k = 0u; k < ${PER_WORD}u; k++) {
    let i = w + k * words;
    if (i < P(0u)) {
      var code = 0u;
${body.replace(/^/gm, "    ")}
      bits = bits | (code << (2u * k));
    }
  }
  mask[w] = bits;
}`;
}

/** WGSL: `m`, the bits of element `i` (read from `mask`, `P(words)` words), in its low two bits. */
export function maskBits(words: number): string {
  return `  let m = mask[i % P(${words}u)] >> (2u * (i / P(${words}u)));`;
}
