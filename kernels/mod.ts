/**
 * The GPU layer: runtime, tensors, autograd, ops and layers. Knows nothing of GANs or
 * pipelines. Every op runs on the GPU (float32) or on the float64 CPU
 * reference backend, chosen by where its input tensors live. Code outside kernels/ imports
 * only this module (tests/architecture_test.ts).
 * @module
 */
export {
  describeGpu,
  DeviceLostError,
  forcedBackend,
  gpu,
  initGpu,
  NoAdapterError,
} from "./runtime/device.ts";
export type { Gpu } from "./runtime/device.ts";
export { KernelError } from "./runtime/kernel_cache.ts";
export {
  flush,
  profileReport,
  profileShapes,
  setDryRun,
  setProfiling,
  trimPool,
} from "./runtime/commands.ts";
export { memoryStats, resetPeakMemory } from "./runtime/buffer_pool.ts";
export { memoryComposition, trackMemoryComposition } from "./runtime/memory_composition.ts";
export { Tensor } from "./tensor/tensor.ts";
export type { Device, DType } from "./tensor/tensor.ts";
export { scope, scopeAsync } from "./tensor/scope.ts";
export { isGradEnabled, noGrad } from "./tensor/autograd.ts";
export { backward, detach, grad, gradAsync } from "./ops/grad.ts";
export type { GradOptions } from "./ops/grad.ts";
export * from "./ops/elementwise.ts";
export { expand, sum, sumTo } from "./ops/reduce.ts";
export { max, mean } from "./ops/mean_max.ts";
export { nanToNum, NON_FINITE_WGSL } from "./ops/nan_to_num.ts";
export type { NanToNumOptions } from "./ops/nan_to_num.ts";
export { concat, pad, permute, reshape, slice, stack, transpose } from "./ops/movement.ts";
export type { SliceRange } from "./ops/movement.ts";
export { full, ones, onesLike, scalar, tensor, zeros, zerosLike } from "./ops/creation.ts";
export { normalFromBits, philox, Rng, uniformFromBits } from "./ops/random.ts";
export type { RandomSource, RngState } from "./ops/random.ts";
export {
  loadSafetensors,
  parseSafetensors,
  readSafetensors,
  saveSafetensors,
  serializeSafetensors,
  tensorsToSafetensors,
} from "./io/safetensors.ts";
export type { HostTensor, SafetensorsFile } from "./io/safetensors.ts";
export { matmul } from "./ops/matmul.ts";
export type { MatmulOptions } from "./ops/matmul.ts";
export { conv2d, conv2dInputGrad, conv2dWeightGrad, convTranspose2d } from "./ops/conv.ts";
export type { Conv2dOptions, ConvTranspose2dOptions } from "./ops/conv.ts";
// The GEMM behind matmul and the convolutions: its tiles and knobs, for benchmarks.
export { tileFits, TILES } from "./ops/gemm.ts";
export type { GemmTile, GemmTuning } from "./ops/gemm.ts";
export { assign } from "./ops/assign.ts";
export { avgPool2d, maxPool2d } from "./ops/pool.ts";
export type { AvgPool2dOptions, Pool2dOptions } from "./ops/pool.ts";
export { Adam } from "./optim/adam.ts";
export type { AdamOptions, AdamState } from "./optim/adam.ts";
export { emaUpdate } from "./optim/ema.ts";
export { Module } from "./nn/module.ts";
export { cumprod, cumsum } from "./ops/scan.ts";
export type { ScanOptions } from "./ops/scan.ts";
export { searchsorted } from "./ops/searchsorted.ts";
export {
  argsort,
  invertPermutation,
  permuteAlongAxis,
  scatterAddAlongAxis,
  sortAlongAxis,
  takeAlongAxis,
} from "./ops/sort.ts";
export {
  BILINEAR_WGSL,
  gridSample,
  gridSampleGridGrad,
  gridSampleImageGrad,
} from "./ops/grid_sample.ts";
export { upFirDn } from "./ops/upfirdn.ts";
export type { FirKernel, UpFirDnGeometry } from "./ops/upfirdn.ts";

// Layers.
export { antialiasedResize, bilinearResize } from "./nn/antialiased_resize.ts";
export { biasAct, defaultGain } from "./nn/bias_act.ts";
export type { Activation } from "./nn/bias_act.ts";
export { Conv2dLayer } from "./nn/conv2d_layer.ts";
export { FullyConnected } from "./nn/fully_connected.ts";
export { blurTaps, gaussianBlur } from "./nn/gaussian_blur.ts";
export { minibatchStd } from "./nn/minibatch_std.ts";
export { modulatedConv2d } from "./nn/modulated_conv.ts";
export { downsample2d, setupFilter, upsample2d } from "./nn/upfirdn2d.ts";
export type { Filter } from "./nn/upfirdn2d.ts";

// Writing an op of your own: a declaration (shape rule, CPU twin, kernel, backward), or by hand
// a WGSL kernel, its launch, its backward rule.
export { defineOp, launch } from "./ops/op.ts";
export type { KernelDeclaration, Op, OpDeclaration } from "./ops/op.ts";
export { kernel, throwPendingErrors } from "./runtime/kernel_cache.ts";
export { dispatch } from "./runtime/commands.ts";
export { ELEMENT_MAIN, grid, Params, paramsDecl, range } from "./ops/params.ts";
export { PHILOX_WGSL } from "./ops/random.ts";
export { ADD_FIXED_WGSL, fixedPointToFloat } from "./ops/fixed_point_sum.ts";
export { record, withGradReadyListener } from "./tensor/autograd.ts";
export { numel } from "./tensor/tensor.ts";

// Scheduling GPU work and host copies (data-parallel exchange, read-backs, profiling timelines).
export {
  beforeNextSubmit,
  copyBuffer,
  requestsSubmitted,
  submit,
  submitWhenReady,
  uploadBuffer,
  withoutEarlySubmission,
} from "./runtime/commands.ts";
export { acquireBuffer, releaseBuffer } from "./runtime/buffer_pool.ts";
export { turnEventLoop } from "./runtime/event_loop.ts";
export { timeline, timelineOn } from "./runtime/timeline.ts";
