/**
 * The pickle VM, torch storages and `.pth` files, on bytes written by hand
 * (no Python or torch here): values and opcodes, refusal of every global off
 * the allowlist, truncation, and torch.save zip / legacy files with strided
 * tensors.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  isTuple,
  loadPickle,
  PickleError,
  PyDict,
  UnsafeGlobalError,
} from "../../stages/io/pickle_vm.ts";
import { parseLegacyTorchStream, TORCH_GLOBALS } from "../../stages/io/torch_storage.ts";
import { readPth } from "../../stages/io/pth.ts";
import { parseSnapshot } from "../../stages/io/snapshot.ts";
import { withTempDir, writeRawZip } from "./fixtures.ts";

const latin = (text: string) => Uint8Array.from(text, (ch) => ch.charCodeAt(0));

/** Writes pickle opcodes; just enough to hand-build torch files. */
class PickleBytes {
  readonly parts: number[] = [];
  raw(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  text(text: string): this {
    return this.raw(...latin(text));
  }
  proto(n: number): this {
    return this.raw(0x80, n);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n); // BININT1
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.raw(0x4a, ...b); // BININT
  }
  str(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    const n = new Uint8Array(4);
    new DataView(n.buffer).setUint32(0, utf8.length, true);
    return this.raw(0x58, ...n, ...utf8); // BINUNICODE
  }
  global(module: string, name: string): this {
    return this.text(`c${module}\n${name}\n`);
  }
  mark(): this {
    return this.raw(0x28);
  }
  tuple(): this {
    return this.raw(0x74);
  }
  /** `_rebuild_tensor_v2(BINPERSID(storage), offset, size, stride, False, OrderedDict())`. */
  tensor(
    storage: { type: string; key: string; numel: number },
    offset: number,
    size: number[],
    stride: number[],
  ): this {
    this.global("torch._utils", "_rebuild_tensor_v2").mark();
    this.mark().str("storage").global("torch", storage.type).str(storage.key).str("cpu")
      .int(storage.numel).tuple().raw(0x51); // BINPERSID
    this.int(offset);
    this.mark();
    size.forEach((s) => this.int(s));
    this.tuple().mark();
    stride.forEach((s) => this.int(s));
    this.tuple().raw(0x89); // NEWFALSE
    this.global("collections", "OrderedDict").raw(0x29, 0x52); // EMPTY_TUPLE REDUCE
    return this.tuple().raw(0x52); // REDUCE
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function floats(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

Deno.test("pickle: protocol 0–4 values, memo, containers", () => {
  // Protocol 0 text opcodes: dict with int, long, float, string, unicode, list, tuple.
  const text = latin(
    "(dp0\nS'a'\np1\nI42\nsS'big'\np2\nL123456789012345678901234567890L\nsS'f'\nF-1.5\n" +
      "sS'u'\nVcaf\\u00e9\nsS'list'\n((lp3\nI1\naI01\nag1\natp4\ns.",
  );
  const value = loadPickle(text).value as PyDict;
  assertEquals(value.get("a"), 42);
  assertEquals(value.get("big"), 123456789012345678901234567890n);
  assertEquals(value.get("f"), -1.5);
  assertEquals(value.get("u"), "café");
  const listTuple = value.get("list") as unknown[];
  assertEquals(isTuple(listTuple), true);
  assertEquals(listTuple[0], [1, true, "a"]);

  // Protocol 4 with FRAME, SHORT_BINUNICODE, MEMOIZE/BINGET, EMPTY_SET/ADDITEMS, LONG1, BINFLOAT.
  const p4 = new PickleBytes().proto(4).raw(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
    .raw(0x5d, 0x94) // EMPTY_LIST MEMOIZE
    .mark().raw(0x8c, 2, ...latin("hi"), 0x94) // "hi" memo 1
    .raw(0x68, 1) // BINGET 1
    .raw(0x8a, 2, 0xff, 0x7f) // LONG1 32767
    .raw(0x47, ...new Uint8Array([0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18])) // BINFLOAT π
    .raw(0x8f, 0x28, 0x4b, 7, 0x90) // EMPTY_SET MARK 7 ADDITEMS
    .raw(0x43, 3, 1, 2, 3) // SHORT_BINBYTES
    .raw(0x65, 0x2e) // APPENDS STOP
    .bytes();
  const list = loadPickle(p4).value as unknown[];
  assertEquals(list.slice(0, 4), ["hi", "hi", 32767, Math.PI]);
  assertEquals([...(list[4] as Set<number>)], [7]);
  assertEquals([...(list[5] as Uint8Array)], [1, 2, 3]);
});

Deno.test("pickle: every global off the allowlist is refused by name, before any call", async () => {
  const attacks: [string, Uint8Array][] = [
    ["os.system", latin("cos\nsystem\n(S'echo pwned'\ntR.")],
    ["posix.system", latin("\x80\x02cposix\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85R.")],
    [
      "builtins.eval",
      new PickleBytes().proto(4).raw(0x8c, 8).text("builtins").raw(0x94, 0x8c, 4).text("eval")
        .raw(0x94, 0x93, 0x94).str("__import__('os').system('echo pwned')").raw(0x85, 0x52, 0x2e)
        .bytes(),
    ],
    [
      "subprocess.Popen",
      new PickleBytes().proto(4).raw(0x8c, 10).text("subprocess").raw(0x8c, 5).text("Popen")
        .raw(0x93).mark().str("echo").str("pwned").raw(0x6c, 0x85, 0x81, 0x2e).bytes(),
    ],
    ["os.system", latin("(S'echo pwned'\nios\nsystem\n.")], // INST
    ["torch.load", latin("ctorch\nload\n(S'x.pt'\ntR.")], // torch itself is not trusted
  ];
  for (const [name, bytes] of attacks) {
    for (
      const load of [
        () => loadPickle(bytes, { source: "evil.pkl" }),
        () => loadPickle(bytes, { source: "evil.pkl", globals: TORCH_GLOBALS }),
        () => parseSnapshot(bytes, "evil.pkl"),
      ]
    ) {
      let error: unknown;
      try {
        load();
      } catch (err) {
        error = err;
      }
      if (!(error instanceof UnsafeGlobalError)) throw new Error(`${name}: not refused: ${error}`);
      assertEquals(error.globalName, name);
      assertEquals(error.message.includes(`'${name}'`), true);
    }
  }
  // Also inside the legacy torch.save blob of a storage (`torch.storage._load_from_bytes`).
  const evilBlob = latin(
    "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.}.cos\nsystem\n(S'echo pwned'\ntR.",
  );
  const outer = new PickleBytes().proto(2).global("torch.storage", "_load_from_bytes")
    .raw(0x42, ...new Uint8Array(new Uint32Array([evilBlob.length]).buffer), ...evilBlob)
    .raw(0x85, 0x52, 0x2e).bytes();
  await assertThrows(
    () => parseSnapshot(outer, "nested.pkl"),
    /^nested\.pkl: torch\.storage\._load_from_bytes at byte \d+: storage blob: refusing global 'os\.system'/,
  );
  // Values that are not allowlisted globals cannot be called or instantiated.
  await assertThrows(() => loadPickle(latin("S'x'\n(S'y'\ntR.")), /cannot call a str/);
  await assertThrows(() => loadPickle(latin("S'x'\n)\x81.")), /cannot instantiate a str/);
  // A data-only global cannot be called either.
  await assertThrows(
    () => loadPickle(latin("ctorch\nFloatStorage\n)R."), { globals: TORCH_GLOBALS }),
    /allowlisted as data, not as a callable/,
  );
});

Deno.test("pickle: truncated, corrupt and unsupported input → one PickleError each", async () => {
  const good = latin("\x80\x02]q\x00(K\x01X\x03\x00\x00\x00abcq\x01e.");
  assertEquals(loadPickle(good).value, [1, "abc"]);
  for (let cut = 0; cut < good.length; cut++) {
    let error: unknown;
    try {
      loadPickle(good.subarray(0, cut), { source: "cut.pkl" });
    } catch (err) {
      error = err;
    }
    if (!(error instanceof PickleError)) throw new Error(`cut at ${cut}: ${error}`);
    assertEquals(/^cut\.pkl: (truncated|corrupt)/.test(error.message), true, error.message);
  }
  await assertThrows(() => loadPickle(latin("\xff\x00")), /unknown opcode 0xff/);
  await assertThrows(() => loadPickle(latin("\x80\x06N.")), /unsupported pickle protocol 6/);
  await assertThrows(() => loadPickle(latin("h\x05.")), /memo entry 5 was never stored/);
  await assertThrows(() => loadPickle(latin("\x82\x01.")), /extension-registry/);
  await assertThrows(() => loadPickle(latin("NQ.")), /persistent id found/);
  await assertThrows(() => loadPickle(latin("]K\x01K\x02s.")), /not a dict/);
});

Deno.test("pth: torch.save zip with shared storage, strides, offsets, f64/f16/i64, nesting", async () => {
  const f32 = { type: "FloatStorage", key: "0", numel: 12 };
  const f64 = { type: "DoubleStorage", key: "1", numel: 2 };
  const f16 = { type: "HalfStorage", key: "2", numel: 3 };
  const i64 = { type: "LongStorage", key: "3", numel: 1 };
  const p = new PickleBytes().proto(2).global("collections", "OrderedDict").raw(0x29, 0x52).mark();
  // A transposed, offset view: element (i, j) = storage[1 + i + 4j].
  p.str("transposed").tensor(f32, 1, [2, 3], [1, 4]);
  p.str("slice").tensor(f32, 2, [3], [1]); // shares storage 0
  p.str("param").global("torch._utils", "_rebuild_parameter").mark()
    .tensor(f32, 0, [2, 2], [2, 1]).raw(0x88).global("collections", "OrderedDict").raw(0x29, 0x52)
    .tuple().raw(0x52);
  p.str("scalar").tensor(f32, 11, [], []);
  p.str("nested").raw(0x7d).str("double").tensor(f64, 0, [2], [1]).raw(0x73);
  p.str("half").tensor(f16, 0, [3], [1]);
  p.str("num_batches_tracked").tensor(i64, 0, [], []);
  p.raw(0x75); // SETITEMS
  // state_dict()'s `_metadata` attribute arrives through BUILD; it is not a tensor entry.
  p.raw(0x7d).str("_metadata").raw(0x7d, 0x73, 0x62, 0x2e); // {"_metadata": {}} BUILD STOP
  const storage0 = floats(Array.from({ length: 12 }, (_, i) => i + 0.5));
  const double = new Uint8Array(new Float64Array([1 / 3, -2.25]).buffer);
  const half = new Uint8Array(new Uint16Array([0x3e00, 0xc000, 0x7bff]).buffer); // 1.5, -2, 65504
  const long = new Uint8Array(new BigInt64Array([1234n]).buffer);

  await withTempDir(async (dir) => {
    const path = `${dir}/weights.pth`;
    await writeRawZip(path, {
      "weights/data.pkl": p.bytes(),
      "weights/byteorder": "little",
      "weights/data/0": storage0,
      "weights/data/1": double,
      "weights/data/2": half,
      "weights/data/3": long,
      "weights/version": "3\n",
    });
    const tensors = await readPth(path);
    assertEquals([...tensors.keys()], [
      "transposed",
      "slice",
      "param",
      "scalar",
      "nested.double",
      "half",
      "num_batches_tracked",
    ]);
    const get = (name: string) => {
      const t = tensors.get(name)!;
      return { shape: t.shape, data: [...t.data] };
    };
    assertEquals(get("transposed"), { shape: [2, 3], data: [1.5, 5.5, 9.5, 2.5, 6.5, 10.5] });
    assertEquals(get("slice"), { shape: [3], data: [2.5, 3.5, 4.5] });
    assertEquals(get("param"), { shape: [2, 2], data: [0.5, 1.5, 2.5, 3.5] });
    assertEquals(get("scalar"), { shape: [], data: [11.5] });
    assertEquals(get("nested.double"), { shape: [2], data: [Math.fround(1 / 3), -2.25] });
    assertEquals(get("half"), { shape: [3], data: [1.5, -2, 65504] });
    assertEquals(get("num_batches_tracked"), { shape: [], data: [1234] });

    // The same pickle with a view reaching past its storage: a shape mismatch.
    const bad = new PickleBytes().proto(2).raw(0x7d).str("w")
      .tensor({ ...f32, numel: 4 }, 1, [2, 2], [2, 1]).raw(0x73, 0x2e).bytes();
    await writeRawZip(`${dir}/bad.pth`, { "a/data.pkl": bad, "a/data/0": floats([1, 2, 3, 4]) });
    await assertThrows(
      () => readPth(`${dir}/bad.pth`),
      /w: size \[2,2\].*storage holds 4.*shape mismatch/,
    );
    // A missing storage entry, a storage of the wrong length, a non-exact int64.
    await writeRawZip(`${dir}/missing.pth`, { "a/data.pkl": bad });
    await assertThrows(
      () => readPth(`${dir}/missing.pth`),
      /storage entry 'a\/data\/0' is missing/,
    );
    await writeRawZip(`${dir}/short.pth`, { "a/data.pkl": bad, "a/data/0": floats([1, 2]) });
    await assertThrows(() => readPth(`${dir}/short.pth`), /has 8 bytes, expected 16/);
    const huge = new PickleBytes().proto(2).raw(0x7d).str("n").tensor(i64, 0, [], [])
      .raw(0x73, 0x2e).bytes();
    await writeRawZip(`${dir}/huge.pth`, {
      "a/data.pkl": huge,
      "a/data/3": new Uint8Array(new BigInt64Array([2n ** 40n + 1n]).buffer),
    });
    await assertThrows(() => readPth(`${dir}/huge.pth`), /n: int64 value 1099511627777.*not exact/);
    // A whole pickled model (its class is not on the allowlist).
    const model = new PickleBytes().proto(2).global("torchvision.models.vgg", "VGG").raw(0x29, 0x81)
      .raw(0x2e).bytes();
    await writeRawZip(`${dir}/model.pth`, { "a/data.pkl": model });
    await assertThrows(
      () => readPth(`${dir}/model.pth`),
      /refusing global 'torchvision.models.vgg.VGG'/,
    );
    // Not a zip data.pkl layout, and an empty file.
    await writeRawZip(`${dir}/other.zip`, { "readme.txt": "hi" });
    await assertThrows(() => readPth(`${dir}/other.zip`), /not a torch.save zip/);
    await Deno.writeFile(`${dir}/empty.pth`, new Uint8Array(0));
    await assertThrows(() => readPth(`${dir}/empty.pth`), /empty or too short/);
  });
});

/** A legacy torch.save stream: magic, version, sys info, object, keys, then the storages. */
function legacyStream(object: Uint8Array, storages: [string, Uint8Array, number][]): Uint8Array {
  const magic = new PickleBytes().proto(2).raw(
    0x8a,
    10,
    0x6c,
    0xfc,
    0x9c,
    0x46,
    0xf9,
    0x20,
    0x6a,
    0xa8,
    0x50,
    0x19,
  ).raw(0x2e);
  const version = new PickleBytes().proto(2).raw(0x4d, 0xe9, 0x03, 0x2e);
  const sysInfo = new PickleBytes().proto(2).raw(0x7d).mark().str("protocol_version").raw(
    0x4d,
    0xe9,
    0x03,
  ).str("little_endian").raw(0x88).raw(0x75, 0x2e);
  const keys = new PickleBytes().proto(2).raw(0x5d).mark();
  storages.forEach(([key]) => keys.str(key));
  keys.raw(0x65, 0x2e);
  const parts = [magic.bytes(), version.bytes(), sysInfo.bytes(), object, keys.bytes()];
  for (const [, data, count] of storages) {
    parts.push(new Uint8Array(new BigInt64Array([BigInt(count)]).buffer), data);
  }
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("pth: legacy (pre-zip) torch.save stream; truncation is reported", async () => {
  const storage = { type: "FloatStorage", key: "140", numel: 6 };
  const object = new PickleBytes().proto(2).raw(0x7d).mark()
    .str("features.0.weight").tensor(storage, 0, [2, 3], [3, 1])
    .str("features.0.bias").tensor(storage, 4, [2], [1])
    .raw(0x75, 0x2e).bytes();
  const stream = legacyStream(object, [["140", floats([1, 2, 3, 4, 5, 6]), 6]]);
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/vgg.pth`, stream);
    const tensors = await readPth(`${dir}/vgg.pth`);
    assertEquals([...tensors.get("features.0.weight")!.data], [1, 2, 3, 4, 5, 6]);
    assertEquals([...tensors.get("features.0.bias")!.data], [5, 6]);
    for (const cut of [1, 20, 60, object.length, stream.length - 30, stream.length - 1]) {
      await Deno.writeFile(`${dir}/cut.pth`, stream.subarray(0, cut));
      await assertThrows(() => readPth(`${dir}/cut.pth`), /cut\.pth.*(truncated|too short)/);
    }
  });
  const notTorch = new PickleBytes().proto(2).int(7).raw(0x2e).bytes();
  await assertThrows(() => parseLegacyTorchStream(notTorch, "x.pth"), /not a torch.save file/);
});
