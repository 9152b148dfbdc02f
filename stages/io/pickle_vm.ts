/**
 * A pickle virtual machine that never executes anything.
 *
 * Python's unpickler imports any `module.name` a file asks for and calls it:
 * loading an untrusted `.pkl` runs arbitrary code. Here a global resolves only
 * through an allowlist table given by the caller (name → `GlobalHandler`, a TS
 * function building plain data); any other name is refused at the GLOBAL /
 * STACK_GLOBAL opcode, before anything could use it. REDUCE, NEWOBJ, OBJ, INST
 * and BUILD accept only values the VM itself produced from that table, so there
 * is structurally no path from file bytes to a call outside it.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint
 * beyond 2^53), float → number, str → string, bytes → Uint8Array, list → array,
 * tuple → frozen array, dict → `PyDict` (a Map), set → Set. Protocols 0–5.
 * @module
 */

/** A Python dict (plain, OrderedDict or a dict subclass such as EasyDict), insertion-ordered. */
export class PyDict extends Map<unknown, unknown> {
  /** Instance attributes set by BUILD (e.g. a state dict's `_metadata`); rarely present. */
  attributes: unknown = undefined;
  constructor(readonly pythonClass = "builtins.dict") {
    super();
  }
}

/**
 * Base of objects built by allowlisted handlers that accept BUILD (`__setstate__`).
 * The VM calls `build` only on instances of this class.
 */
export abstract class PickleObject {
  /** Applies the BUILD state; throw to refuse a state this type does not understand. */
  abstract build(state: unknown): void;
}

/** A data-only instance of an allowlisted class: its constructor args and BUILD state. */
export class PyObject extends PickleObject {
  state: unknown = undefined;
  constructor(readonly pythonClass: string, readonly args: readonly unknown[]) {
    super();
  }
  build(state: unknown): void {
    this.state = state;
  }
}

/** How one allowlisted global is rebuilt. Handlers must only build data, never call out. */
export interface GlobalHandler {
  /** REDUCE: `global(*args)`. Absent → the global cannot be called. */
  call?(args: readonly unknown[]): unknown;
  /** NEWOBJ / NEWOBJ_EX / OBJ / INST: `cls.__new__(cls, *args)`. Absent → not instantiable. */
  construct?(args: readonly unknown[], kwargs: PyDict | undefined): unknown;
  /** The value of the global itself when used as data (e.g. a storage type, a dtype). */
  value?: unknown;
}

/** Allowlist: fully qualified `module.name` → handler. */
export type GlobalTable = ReadonlyMap<string, GlobalHandler>;

/** A resolved global on the VM stack; only the VM creates these, from the table. */
export class PickleGlobal {
  /** @internal constructed only by `loadPickle`. */
  constructor(readonly qualifiedName: string, readonly handler: GlobalHandler) {}
}

/** A malformed, truncated or unsupported pickle. The message names the source and byte offset. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/** A pickle asked for a global that is not on the allowlist; nothing was executed. */
export class UnsafeGlobalError extends PickleError {
  constructor(readonly source: string, readonly globalName: string, readonly offset: number) {
    super(
      `${source}: refusing global '${globalName}' (byte ${offset}): it is not on the allowlist ` +
        `of tensor, storage and container types this reader rebuilds. Python would import and ` +
        `run it on load; this reader never executes anything from a file.`,
    );
    this.name = "UnsafeGlobalError";
  }
}

/** Options of `loadPickle`. */
export interface PickleOptions {
  /** Names the data in errors (a path, or "path: entry"). */
  source?: string;
  /** Allowlisted globals. Anything else is refused. */
  globals?: GlobalTable;
  /** Resolves PERSID / BINPERSID ids (torch storages). Absent → such pickles are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Byte offset to start at (for several pickles back to back). */
  offset?: number;
}

/** Result of `loadPickle`: the value and the offset just past its STOP opcode. */
export interface PickleResult {
  value: unknown;
  end: number;
  /** Highest PROTO seen (0 when none: protocol 0/1). */
  protocol: number;
}

/** Globals every Python pickle may use for plain containers. */
export const PYTHON_BUILTIN_GLOBALS: GlobalTable = new Map<string, GlobalHandler>([
  ["collections.OrderedDict", { call: orderedDictOf, construct: () => new PyDict(ORDERED) }],
  ["builtins.set", { call: (args) => new Set(iterableArg(args, "set")) }],
  ["builtins.frozenset", { call: (args) => new Set(iterableArg(args, "frozenset")) }],
  ["__builtin__.set", { call: (args) => new Set(iterableArg(args, "set")) }],
  ["builtins.bytearray", { call: bytesFromArgs }],
  // Protocol 2 writes Python 3 bytes as `_codecs.encode(text, 'latin1')`.
  ["_codecs.encode", { call: bytesFromArgs }],
]);

const ORDERED = "collections.OrderedDict";

function orderedDictOf(args: readonly unknown[]): PyDict {
  const dict = new PyDict(ORDERED);
  if (args.length > 0) {
    for (const pair of iterableArg(args, "OrderedDict")) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new PickleError("OrderedDict(...) items are not (key, value) pairs");
      }
      dict.set(pair[0], pair[1]);
    }
  }
  return dict;
}

function iterableArg(args: readonly unknown[], what: string): unknown[] {
  if (args.length === 0) return [];
  const items = args[0];
  if (Array.isArray(items)) return [...items];
  if (items instanceof Set) return [...items];
  throw new PickleError(`${what}(...) expects a list`);
}

function bytesFromArgs(args: readonly unknown[]): Uint8Array {
  const [text, encoding] = args;
  if (args.length === 0) return new Uint8Array(0);
  if (text instanceof Uint8Array) return text.slice();
  if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1")) {
    throw new PickleError("bytes from text are supported only with the 'latin1' encoding");
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const MARK = Symbol("MARK");
const HIGHEST_PROTOCOL = 5;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Opcode byte → name, for error messages and dispatch. */
const OPCODES: Record<number, string> = {
  0x28: "MARK",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x46: "FLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x7d: "EMPTY_DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x5d: "EMPTY_LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x29: "EMPTY_TUPLE",
  0x75: "SETITEMS",
  0x47: "BINFLOAT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/** A tuple is a frozen array (lists stay mutable for APPEND). */
export function isTuple(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && Object.isFrozen(value);
}

function tuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

/**
 * Runs one pickle (up to its STOP) from `bytes` and returns the value it builds.
 * Throws `UnsafeGlobalError` for a global outside `options.globals` and
 * `PickleError` for anything malformed or truncated.
 */
export function loadPickle(bytes: Uint8Array, options: PickleOptions = {}): PickleResult {
  const source = options.source ?? "pickle";
  const globals = options.globals ?? PYTHON_BUILTIN_GLOBALS;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = options.offset ?? 0;
  let opStart = pos;
  let opName = "";
  let protocol = 0;

  const fail = (reason: string): never => {
    throw new PickleError(`${source}: ${reason} (opcode ${opName} at byte ${opStart})`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) {
      throw new PickleError(
        `${source}: truncated: opcode ${opName} at byte ${opStart} needs ${n} more bytes, ` +
          `only ${bytes.length - pos} left`,
      );
    }
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  /** A 64-bit length; beyond the remaining data it can only mean a cut file. */
  const u64 = () => {
    const value = view.getBigUint64(need(8), true);
    if (value > BigInt(bytes.length - pos)) {
      throw new PickleError(
        `${source}: truncated: opcode ${opName} at byte ${opStart} announces ${value} bytes, ` +
          `only ${bytes.length - pos} left`,
      );
    }
    return Number(value);
  };
  const take = (n: number) => bytes.subarray(need(n), pos);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) {
      throw new PickleError(
        `${source}: truncated: opcode ${opName} at byte ${opStart} has no newline`,
      );
    }
    const text = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      fail("corrupt: stack underflow");
    }
    const value = stack.pop();
    if (value === MARK) fail("corrupt: unexpected MARK");
    return value;
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("corrupt: empty stack");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) fail("corrupt: no MARK on the stack");
    const items = stack.splice(mark!);
    items.shift(); // the MARK itself
    return items;
  };
  const resolveGlobal = (module: string, name: string): PickleGlobal => {
    const qualified = `${module}.${name}`;
    const handler = globals.get(qualified);
    if (!handler) throw new UnsafeGlobalError(source, qualified, opStart);
    return new PickleGlobal(qualified, handler);
  };
  const callGlobal = (callable: unknown, args: unknown): unknown => {
    if (!(callable instanceof PickleGlobal)) fail(`cannot call a ${describe(callable)}`);
    const g = callable as PickleGlobal;
    if (!g.handler.call) fail(`'${g.qualifiedName}' is allowlisted as data, not as a callable`);
    if (!Array.isArray(args)) fail(`arguments of '${g.qualifiedName}' are not a tuple`);
    return wrap(g.qualifiedName, () => g.handler.call!(args as unknown[]));
  };
  const construct = (cls: unknown, args: unknown, kwargs?: unknown): unknown => {
    if (!(cls instanceof PickleGlobal)) fail(`cannot instantiate a ${describe(cls)}`);
    const g = cls as PickleGlobal;
    if (!g.handler.construct) fail(`'${g.qualifiedName}' is not allowlisted for instantiation`);
    if (!Array.isArray(args)) fail(`arguments of '${g.qualifiedName}' are not a tuple`);
    if (kwargs !== undefined && !(kwargs instanceof PyDict)) {
      fail("keyword arguments are not a dict");
    }
    return wrap(
      g.qualifiedName,
      () => g.handler.construct!(args as unknown[], kwargs as PyDict | undefined),
    );
  };
  // Handler errors get the pickle's position, so messages say where the bad data was.
  const wrap = (name: string, fn: () => unknown): unknown => {
    try {
      return fn();
    } catch (err) {
      const where = `${source}: ${name} at byte ${opStart}`;
      // A refusal inside nested data (a storage blob) keeps its class and global name.
      if (err instanceof UnsafeGlobalError) {
        throw new UnsafeGlobalError(`${where}: ${err.source}`, err.globalName, err.offset);
      }
      throw new PickleError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof PyDict)) fail(`SETITEM(S) on a ${describe(target)}, not a dict`);
    if (items.length % 2 !== 0) fail("corrupt: odd number of items for SETITEMS");
    for (let i = 0; i < items.length; i += 2) (target as PyDict).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      fail(`APPEND(S) on a ${describe(target)}, not a list`);
    }
    (target as unknown[]).push(...items);
  };
  const persistent = (pid: unknown): unknown => {
    if (!options.persistentLoad) {
      fail("persistent id found, but this data is not a torch.save archive; cannot resolve it");
    }
    return wrap("persistent_load", () => options.persistentLoad!(pid));
  };
  const memoGet = (index: number): unknown => {
    if (!memo.has(index)) fail(`corrupt: memo entry ${index} was never stored`);
    return memo.get(index);
  };

  while (true) {
    opStart = pos;
    if (pos >= bytes.length) {
      throw new PickleError(
        `${source}: truncated: data ends at byte ${bytes.length} before the STOP opcode`,
      );
    }
    const code = bytes[pos++];
    opName = OPCODES[code] ?? `0x${code.toString(16).padStart(2, "0")}`;
    switch (code) {
      case 0x80: { // PROTO
        protocol = u8();
        if (protocol > HIGHEST_PROTOCOL) fail(`unsupported pickle protocol ${protocol}`);
        break;
      }
      case 0x95: // FRAME: only a length hint.
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos, protocol };
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (top() === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // Numbers.
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(littleEndianSigned(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0) fail("corrupt: negative LONG4 length");
        stack.push(littleEndianSigned(take(n)));
        break;
      }
      case 0x49: { // INT (text; "00"/"01" are protocol-0 booleans)
        const text = line();
        if (text === "00" || text === "01") stack.push(text === "01");
        else stack.push(parseInteger(text) ?? fail(`corrupt: bad INT '${text}'`));
        break;
      }
      case 0x4c: { // LONG (text, "123L")
        const text = line().replace(/L$/, "");
        stack.push(parseInteger(text) ?? fail(`corrupt: bad LONG '${text}'`));
        break;
      }
      case 0x46: { // FLOAT (text)
        const text = line().trim();
        const value = Number(text);
        if (Number.isNaN(value) && !/^[-+]?nan$/i.test(text)) fail(`corrupt: bad FLOAT '${text}'`);
        stack.push(value);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;

      // Strings and bytes.
      case 0x58: // BINUNICODE
        stack.push(decodeUtf8(take(u32()), fail));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decodeUtf8(take(u8()), fail));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(decodeUtf8(take(u64()), fail));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(rawUnicodeEscape(line()));
        break;
      case 0x53: // STRING (a Python repr)
        stack.push(parseQuotedString(line()) ?? fail("corrupt: bad STRING literal"));
        break;
      case 0x54: { // BINSTRING
        const n = view.getInt32(need(4), true);
        if (n < 0) fail("corrupt: negative BINSTRING length");
        stack.push(latin1(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()));
        break;
      case 0x97: // NEXT_BUFFER
        fail("out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported");
        break;
      case 0x98: // READONLY_BUFFER
        top();
        break;

      // Containers.
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: { // DICT
        const dict = new PyDict();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: { // SETITEM
        const value = pop(), key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail(`ADDITEMS on a ${describe(set)}, not a set`);
        for (const item of items) (set as Set<unknown>).add(item);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;

      // Memo.
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: { // PUT
        const index = parseInteger(line());
        if (typeof index !== "number") fail("corrupt: bad PUT index");
        memo.set(index as number, top());
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x67: { // GET
        const index = parseInteger(line());
        if (typeof index !== "number") fail("corrupt: bad GET index");
        stack.push(memoGet(index as number));
        break;
      }
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;

      // Globals, calls and objects: all through the allowlist.
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail("corrupt: STACK_GLOBAL needs two strings");
        }
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), callable = pop();
        stack.push(callGlobal(callable, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop(), cls = pop();
        stack.push(construct(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(), args = pop(), cls = pop();
        stack.push(construct(cls, args, kwargs));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail("corrupt: OBJ without a class");
        stack.push(construct(items[0], tuple(items.slice(1))));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        const cls = resolveGlobal(module, name);
        stack.push(construct(cls, tuple(popMark())));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        if (target instanceof PickleObject) {
          wrap(target.constructor.name, () => target.build(state));
        } else if (target instanceof PyDict) {
          // A dict subclass's __dict__ (e.g. OrderedDict._metadata of state dicts).
          target.attributes = state;
        } else {
          fail(`BUILD on a ${describe(target)}`);
        }
        break;
      }
      case 0x50: // PERSID
        stack.push(persistent(line()));
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        fail("extension-registry globals (EXT1/2/4) are not supported");
        break;
      default:
        fail(
          `not a pickle or corrupt: unknown opcode 0x${code.toString(16).padStart(2, "0")}`,
        );
    }
  }
}

/** A short description of a stack value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "None";
  if (value instanceof PickleGlobal) return `global '${value.qualifiedName}'`;
  if (value instanceof PyDict) {
    return value.pythonClass === "builtins.dict" ? "dict" : value.pythonClass;
  }
  if (value instanceof PyObject) return `${value.pythonClass} object`;
  if (isTuple(value)) return "tuple";
  if (Array.isArray(value)) return "list";
  if (value instanceof Uint8Array) return "bytes";
  if (value instanceof Set) return "set";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value === "string" ? "str" : typeof value;
}

function decodeUtf8(data: Uint8Array, fail: (reason: string) => never): string {
  try {
    return utf8.decode(data);
  } catch {
    return fail("corrupt: string is not valid UTF-8");
  }
}

function latin1(data: Uint8Array): string {
  let text = "";
  for (let i = 0; i < data.length; i += 8192) {
    text += String.fromCharCode(...data.subarray(i, i + 8192));
  }
  return text;
}

function littleEndianSigned(data: Uint8Array): number | bigint {
  if (data.length === 0) return 0;
  let value = 0n;
  for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i]);
  if (data[data.length - 1] & 0x80) value -= 1n << BigInt(8 * data.length);
  return narrow(value);
}

function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

function parseInteger(text: string): number | bigint | undefined {
  const trimmed = text.trim();
  if (!/^[-+]?\d+$/.test(trimmed)) return undefined;
  return narrow(BigInt(trimmed));
}

function rawUnicodeEscape(text: string): string {
  return text.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, four, eight) => String.fromCodePoint(parseInt(four ?? eight, 16)),
  );
}

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
};

/** Parses a quoted Python 2 str repr ('...' or "...") with its escapes. */
function parseQuotedString(text: string): string | undefined {
  const quote = text[0];
  if (text.length < 2 || (quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) {
    return undefined;
  }
  const body = text.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === "x") {
      out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (next >= "0" && next <= "7") {
      const octal = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out += String.fromCharCode(parseInt(octal, 8));
      i += octal.length - 1;
    } else if (next !== undefined && next in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next];
    } else {
      out += "\\" + (next ?? "");
    }
  }
  return out;
}
