/**
 * Command batching: every dispatch is recorded into one command encoder and
 * one compute pass; nothing is submitted until a read-back, an upload that
 * needs ordering, or an explicit `flush()`: a dispatch in a shared pass costs a
 * small fraction of a separate submit (docs/runtime_notes.md). A
 * batch is sealed (finished) where it is asked to be submitted and submitted
 * then, or later, in order, when deferred writes hold submissions back.
 *
 * Early submission: a batch that grows to `EARLY_BATCH` dispatches is submitted while
 * recording goes on, so the GPU starts on it while the CPU records the rest (a generator
 * forward at batch 1 takes longer to record than to run). Code that paces submissions itself
 * holds it off (`withoutEarlySubmission`).
 *
 * Small per-dispatch parameters go into uniform arenas written just before
 * submission. With profiling on, each dispatch gets its own pass with
 * timestamp writes and times are summed per op name.
 *
 * Deferred writes (`beforeNextSubmit`): commands may be recorded before the
 * data they read has arrived on the host (a data-parallel gradient exchange
 * still in flight) as long as its `writeBuffer` happens before they are
 * submitted; until such a write has settled, `submit()` refuses and the
 * submit requests called after it (`submitWhenReady()`) wait.
 */
import { gpu } from "./device.ts";
import { type Kernel, reportGpuError, throwPendingErrors } from "./kernel_cache.ts";
import {
  acquireBuffer,
  bufferId,
  destroyPooledBuffers,
  onBatchSubmitted,
  sealReleases,
} from "./buffer_pool.ts";
import { timeline, timelineOn } from "./timeline.ts";
import { noteWritten } from "./memory_composition.ts";

const UNIFORM = 0x40;
const COPY_DST = 0x08;
const COPY_SRC = 0x04;
const MAP_READ = 0x01;
const QUERY_RESOLVE = 0x200;

/** A slice of a GPU buffer bound to one binding slot. */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

/** One kernel launch: storage buffers at bindings 0..n-1, `params` (if any) as a uniform at binding n. */
export interface Dispatch {
  kernel: Kernel;
  buffers: (GPUBuffer | BufferSlice)[];
  params?: ArrayBufferView;
  workgroups: [number, number?, number?];
  /** What it computes (a convolution's geometry, a GEMM's sizes): profiles total time per shape. */
  shape?: () => string;
  /** Floating-point operations, for the rate a profile reports per shape. */
  flops?: number;
}

const ARENA_BYTES = 1 << 16;
const PARAM_ALIGN = 256;

interface Arena {
  buffer: GPUBuffer;
  bytes: Uint8Array<ArrayBuffer>;
  used: number;
}

interface ProfileSlot {
  op: string;
  shape?: string;
  flops?: number;
}

/** GPU time of one op, or of one op at one shape. */
export interface ProfileTotal {
  ms: number;
  count: number;
  flops: number;
}

let encoder: GPUCommandEncoder | null = null;
let pass: GPUComputePassEncoder | null = null;
const arenas: Arena[] = [];
let arenaIndex = 0;
let dispatchesInBatch = 0;
let opsInBatch: string[] = [];

let profiling = false;
let querySet: GPUQuerySet | null = null;
const QUERY_CAPACITY = 4096;
let profileSlots: ProfileSlot[] = [];
const profileTotals = new Map<string, ProfileTotal>();
/** Keyed by op and shape, for the dispatches that name their shape. */
const shapeTotals = new Map<string, ProfileTotal & { op: string; shape: string }>();
const pendingProfileReads: Promise<void>[] = [];

function currentEncoder(): GPUCommandEncoder {
  if (!encoder) {
    const { device } = gpu();
    device.pushErrorScope("validation");
    encoder = device.createCommandEncoder();
  }
  return encoder;
}

function currentPass(): GPUComputePassEncoder {
  if (!pass) pass = currentEncoder().beginComputePass();
  return pass;
}

function endPass(): void {
  pass?.end();
  pass = null;
}

function paramSlot(params: ArrayBufferView): BufferSlice {
  const size = Math.ceil(params.byteLength / 16) * 16;
  let arena = arenas[arenaIndex];
  if (arena && arena.used + size > ARENA_BYTES) arena = arenas[++arenaIndex];
  if (!arena) {
    const buffer = gpu().device.createBuffer({ size: ARENA_BYTES, usage: UNIFORM | COPY_DST });
    arena = { buffer, bytes: new Uint8Array(ARENA_BYTES), used: 0 };
    arenas.push(arena);
  }
  const offset = arena.used;
  arena.bytes.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength), offset);
  arena.used = Math.ceil((offset + size) / PARAM_ALIGN) * PARAM_ALIGN;
  return { buffer: arena.buffer, offset, size };
}

// Bind groups are the costliest call of a dispatch (docs/runtime_notes.md). A training step repeats the same kernels on the same
// pooled buffers and arena slots, so they are cached by (kernel, buffers, slices).
const kernelIds = new WeakMap<Kernel, number>();
let nextId = 1;
const bindGroups = new Map<string, GPUBindGroup>();
const BIND_GROUP_CACHE_LIMIT = 1 << 16;

function idOf<T extends object>(ids: WeakMap<T, number>, o: T): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, id = nextId++);
  return id;
}

function bindGroupFor(device: GPUDevice, k: Kernel, slices: BufferSlice[]): GPUBindGroup {
  let key = String(idOf(kernelIds, k));
  for (const s of slices) key += `:${bufferId(s.buffer)}/${s.offset ?? 0}/${s.size ?? -1}`;
  let bg = bindGroups.get(key);
  if (!bg) {
    if (bindGroups.size >= BIND_GROUP_CACHE_LIMIT) bindGroups.clear();
    bg = device.createBindGroup({
      layout: k.layout,
      entries: slices.map((s, i) => ({ binding: i, resource: s })),
    });
    bindGroups.set(key, bg);
  }
  return bg;
}

/**
 * Frees the memory of every pooled (unused) buffer, forgetting the cached bind groups first
 * (they name those buffers). Only after `flush()`: nothing may be pending.
 */
export function trimPool(): void {
  bindGroups.clear();
  destroyPooledBuffers();
}

let dryRun = false;

/**
 * Memory planning: with dry runs on, dispatches are dropped (nothing is computed, values are
 * garbage) while every buffer is still acquired and released as in a real run, so
 * `memoryStats().peak` is the real run's peak, found in seconds. Meant for CPU adapters, where
 * buffers that are never written take no memory. Returns the previous setting.
 */
export function setDryRun(on: boolean): boolean {
  const prev = dryRun;
  dryRun = on;
  return prev;
}

/** Dispatches after which a batch is submitted early (each submit costs a few dispatches' time). */
const EARLY_BATCH = 128;
let earlyHolds = 0;

/**
 * Runs `fn` with early submission off: the training loop submits a whole step at once, after
 * the previous step has finished (stages/training/step_pacing.ts); parts submitted early would
 * make that wait cover the step being recorded too.
 */
export async function withoutEarlySubmission<T>(fn: () => Promise<T>): Promise<T> {
  earlyHolds++;
  try {
    return await fn();
  } finally {
    earlyHolds--;
  }
}

/**
 * Submits the batch if it is long enough and nothing orders it: no deferred write pending, no
 * sealed batch waiting for a request, no action deferred until the CPU waits.
 */
function submitEarly(): void {
  if (earlyHolds || dispatchesInBatch < EARLY_BATCH) return;
  if (pendingWrites.size || sealed.length || deferredActions.length) return;
  submit();
}

/** Records one dispatch into the current batch. */
export function dispatch(d: Dispatch): void {
  noteWritten(d.kernel.op, d.buffers);
  if (dryRun) return;
  const g = gpu();
  const slices: BufferSlice[] = d.buffers.map((b) => ("buffer" in b ? b : { buffer: b }));
  if (d.params) slices.push(paramSlot(d.params));
  const bindGroup = bindGroupFor(g.device, d.kernel, slices);
  const [x, y = 1, z = 1] = d.workgroups;
  if (x === 0 || y === 0 || z === 0) return;
  const max = g.limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max) {
    throw new Error(`op '${d.kernel.op}': dispatch ${x}×${y}×${z} exceeds ${max} per dimension`);
  }
  let p: GPUComputePassEncoder;
  if (profiling && querySet) {
    // The query set is full: seal the batch so that every dispatch is timed.
    if (profileSlots.length === QUERY_CAPACITY / 2) seal();
    endPass();
    const slot = profileSlots.length;
    profileSlots.push({ op: d.kernel.op, shape: d.shape?.(), flops: d.flops });
    p = currentEncoder().beginComputePass({
      timestampWrites: {
        querySet,
        beginningOfPassWriteIndex: 2 * slot,
        endOfPassWriteIndex: 2 * slot + 1,
      },
    });
    pass = p;
  } else {
    p = currentPass();
  }
  p.setPipeline(d.kernel.pipeline);
  p.setBindGroup(0, bindGroup);
  p.dispatchWorkgroups(x, y, z);
  if (profiling) endPass();
  dispatchesInBatch++;
  if (opsInBatch.length < 64) opsInBatch.push(d.kernel.op);
  submitEarly();
}

/** Records a buffer-to-buffer copy into the current batch. */
export function copyBuffer(
  src: GPUBuffer,
  srcOffset: number,
  dst: GPUBuffer,
  dstOffset: number,
  bytes: number,
): void {
  endPass();
  currentEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
}

/** Deferred writes not yet settled; each resolves to its failure, or null. */
const pendingWrites = new Set<Promise<unknown>>();

/**
 * Holds the submission of what is recorded from now on until `write` has settled: every
 * submit request called after this call waits for it. `write` ends with the
 * `queue.writeBuffer` calls that commands recorded from now on (or just before, in the same
 * synchronous stretch) read, into buffers no submitted-but-unfinished or recorded command still
 * needs (`acquireBuffer(bytes, true)`). A rejection is thrown by the requests that waited for
 * it. Requests called before the registration do not wait for it, so whatever the write's
 * completion depends on (a read-back) must have been requested by then.
 */
export function beforeNextSubmit(write: Promise<void>): void {
  const entry = write.then(() => null, (e: unknown) => e ?? new Error("a deferred write failed"));
  pendingWrites.add(entry);
  entry.then(() => pendingWrites.delete(entry));
}

/** Actions deferred by submit requests until the CPU waits (`submitWhenReady`'s `whenWaiting`). */
const deferredActions: (() => void)[] = [];
/** Submit requests run one after another, in call order. */
let requests: Promise<void> = Promise.resolve();
/** The number of the last sealed batch (-1 before the first). */
let lastSealed = -1;
/** Submit requests made so far (names them in the timeline). */
let requestCount = 0;

/**
 * Seals the batch recorded so far (now, so the boundary does not depend on timing); then, after
 * earlier requests and in call order: waits for the deferred writes registered before this call
 * (rethrowing a failure) and submits the sealed batches up to its own. `whenWaiting` is deferred
 * until the CPU has to wait: it runs, with every action deferred before it, at the first later
 * request that finds a write it waits for unsettled (the action may be what the write waits
 * for), at a request made with `runDeferred`, or at `flush`/`submit`.
 *
 * Such an action maps a buffer: Deno blocks the thread there until the GPU has finished
 * everything submitted (see stages/training/step_pacing.ts). Mapping while recording would stop
 * the recording while the GPU runs the work just submitted (a training phase's first gradient
 * bucket comes with most of its backward); mapped when the CPU waits anyway — the next phase,
 * recorded meanwhile, needs the exchanged gradients — the block costs nothing.
 */
export function submitWhenReady(
  whenWaiting?: () => void,
  options: { runDeferred?: boolean } = {},
): Promise<void> {
  seal();
  const upTo = lastSealed;
  const writes = [...pendingWrites];
  const id = ++requestCount;
  timelineOn && timeline(`request ${id}: called (${writes.length} writes pending)`);
  const request = requests.then(async () => {
    if (options.runDeferred || writes.some((w) => pendingWrites.has(w))) runDeferredActions();
    timelineOn && timeline(`request ${id}: caught up`);
    const failure = (await Promise.all(writes)).find((e) => e !== null);
    if (failure !== undefined) throw failure;
    submitSealed(upTo);
    timelineOn && timeline(`request ${id}: submitted`);
    if (whenWaiting) deferredActions.push(whenWaiting);
  });
  requests = request.catch(() => {});
  return request;
}

/** Resolves when every submit request called so far has submitted its batches (or failed). */
export function requestsSubmitted(): Promise<void> {
  return requests;
}

/** Submits the recorded batch (no wait), after the deferred actions. */
export function submit(): void {
  if (pendingWrites.size) {
    throw new Error("submit() while deferred writes are pending: use submitWhenReady()");
  }
  runDeferredActions();
  seal();
  submitSealed(lastSealed);
}

function runDeferredActions(): void {
  for (const action of deferredActions.splice(0)) action();
}

/** A finished batch waiting for its turn, with the uniform data it reads. */
interface SealedBatch {
  commands: GPUCommandBuffer;
  params: { buffer: GPUBuffer; bytes: Uint8Array<ArrayBuffer> }[];
  /** Its number in the buffer pool's release bookkeeping. */
  number: number;
  profile: { buffer: GPUBuffer; slots: ProfileSlot[] } | null;
}

const sealed: SealedBatch[] = [];

/** Submits the sealed batches numbered up to `upTo`, in order, each after writing its uniform data. */
function submitSealed(upTo: number): void {
  let n = 0;
  while (n < sealed.length && sealed[n].number <= upTo) n++;
  if (!n) return;
  const { device } = gpu();
  device.pushErrorScope("validation");
  for (const batch of sealed.splice(0, n)) {
    for (const p of batch.params) device.queue.writeBuffer(p.buffer, 0, p.bytes);
    device.queue.submit([batch.commands]);
    onBatchSubmitted(batch.number);
    if (batch.profile) {
      pendingProfileReads.push(readProfile(batch.profile.buffer, batch.profile.slots));
    }
  }
  device.popErrorScope().then((e) => {
    if (e) reportGpuError(new Error(`GPU validation error at submit: ${e.message}`));
  });
}

/** Finishes the recorded batch into the sealed queue (its validation errors reported later). */
function seal(): void {
  const g = gpu();
  if (!encoder) return;
  endPass();
  let resolve: { buffer: GPUBuffer; slots: ProfileSlot[] } | null = null;
  if (profileSlots.length && querySet) {
    const bytes = profileSlots.length * 16;
    const resolveBuf = g.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const readBuf = g.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    encoder.resolveQuerySet(querySet, 0, profileSlots.length * 2, resolveBuf, 0);
    encoder.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, bytes);
    resolve = { buffer: readBuf, slots: profileSlots };
    profileSlots = [];
  }
  // The arenas' current contents go with the batch: later batches reuse the arenas.
  const params: SealedBatch["params"] = [];
  for (let i = 0; i <= arenaIndex && i < arenas.length; i++) {
    const a = arenas[i];
    if (a.used) params.push({ buffer: a.buffer, bytes: a.bytes.slice(0, a.used) });
    a.used = 0;
  }
  arenaIndex = 0;
  const commands = encoder.finish();
  encoder = null;
  const ops = opsInBatch;
  opsInBatch = [];
  dispatchesInBatch = 0;
  g.device.popErrorScope().then((e) => {
    if (e) {
      reportGpuError(
        new Error(`GPU validation error in a batch with ops [${ops.join(", ")}]: ${e.message}`),
      );
    }
  });
  lastSealed = sealReleases();
  sealed.push({ commands, params, number: lastSealed, profile: resolve });
}

async function readProfile(buffer: GPUBuffer, slots: ProfileSlot[]): Promise<void> {
  await buffer.mapAsync(MAP_READ);
  const t = new BigUint64Array(buffer.getMappedRange());
  const add = (e: ProfileTotal, ms: number, s: ProfileSlot) => {
    e.ms += ms;
    e.count++;
    e.flops += s.flops ?? 0;
  };
  slots.forEach((s, i) => {
    const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
    let e = profileTotals.get(s.op);
    if (!e) profileTotals.set(s.op, e = { ms: 0, count: 0, flops: 0 });
    add(e, ms, s);
    if (s.shape === undefined) return;
    const key = `${s.op} ${s.shape}`;
    let byShape = shapeTotals.get(key);
    if (!byShape) {
      shapeTotals.set(key, byShape = { op: s.op, shape: s.shape, ms: 0, count: 0, flops: 0 });
    }
    add(byShape, ms, s);
  });
  buffer.unmap();
  buffer.destroy();
}

/** Submits the batch and waits until the GPU has finished it; surfaces GPU errors. */
export async function flush(): Promise<void> {
  await submitWhenReady(undefined, { runDeferred: true });
  const g = gpu();
  await g.device.queue.onSubmittedWorkDone();
  if (pendingProfileReads.length) await Promise.all(pendingProfileReads.splice(0));
  await throwPendingErrors();
  if (g.lost) throw g.lost;
}

/** Reads `bytes` bytes of a buffer back to the host (submits the batch). */
export async function readBuffer(
  buffer: GPUBuffer,
  offset: number,
  bytes: number,
): Promise<ArrayBuffer> {
  const g = gpu();
  const size = Math.ceil(bytes / 4) * 4;
  const staging = g.device.createBuffer({ size: Math.max(size, 4), usage: MAP_READ | COPY_DST });
  if (size) copyBuffer(buffer, offset, staging, 0, size);
  await submitWhenReady();
  await throwPendingErrors();
  await staging.mapAsync(MAP_READ);
  if (g.lost) throw g.lost;
  const out = staging.getMappedRange(0, Math.max(size, 4)).slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return out;
}

/** Uploads host data into a fresh pooled buffer (ordered after everything recorded so far). */
export function uploadBuffer(data: ArrayBufferView): GPUBuffer {
  const buffer = acquireBuffer(data.byteLength, true);
  // Copy into a fresh ArrayBuffer padded to 4 bytes (writeBuffer's alignment).
  const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  gpu().device.queue.writeBuffer(buffer, 0, padded);
  return buffer;
}

/** Turns per-op GPU timestamps on or off (only where the adapter has `timestamp-query`). */
export function setProfiling(on: boolean): boolean {
  const g = gpu();
  profiling = on && g.hasTimestamps;
  if (profiling && !querySet) {
    querySet = g.device.createQuerySet({ type: "timestamp", count: QUERY_CAPACITY });
  }
  return profiling;
}

/** GPU time per op name since the last reset, in milliseconds (profiling mode). */
export function profileReport(reset = true): Map<string, ProfileTotal> {
  const copy = new Map(profileTotals);
  if (reset) profileTotals.clear();
  return copy;
}

/** GPU time per op and shape since the last reset, for the dispatches that name their shape. */
export function profileShapes(reset = true): (ProfileTotal & { op: string; shape: string })[] {
  const copy = [...shapeTotals.values()];
  if (reset) shapeTotals.clear();
  return copy;
}

/** Number of dispatches recorded but not yet submitted. */
export function pendingDispatches(): number {
  return dispatchesInBatch;
}
