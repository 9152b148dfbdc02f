/** The tests' assertions (Deno's std lives on JSR, which is unreachable here). */
import { deepStrictEqual, notDeepStrictEqual } from "node:assert";

/** Asserts that `condition` holds; `message` says what did not. */
export function assert(condition: unknown, message?: string): asserts condition {
  if (!condition) throw new Error(message ?? "assertion failed");
}

/** Deep equality with a readable diff on failure. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Asserts that `fn` throws (or rejects) with a message matching `pattern`; returns the message. */
export async function assertThrows(fn: () => unknown, pattern: RegExp | string): Promise<string> {
  let message: string | null = null;
  try {
    await fn();
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  if (message === null) {
    throw new Error(`expected an error matching ${pattern}, nothing was thrown`);
  }
  const ok = typeof pattern === "string" ? message.includes(pattern) : pattern.test(message);
  if (!ok) throw new Error(`error message ${JSON.stringify(message)} does not match ${pattern}`);
  return message;
}

/** Deep strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  notDeepStrictEqual(actual, expected, message);
}

/** Asserts `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  assert(
    text.includes(part),
    message ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** Asserts the promise rejects with an instance of `ErrorClass` (and message part); returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  ErrorClass: new (...args: never[]) => E = Error as unknown as new (...args: never[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    assert(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err}`);
    if (includes) assertStringIncludes((err as Error).message, includes);
    return err as E;
  }
  throw new Error("expected a rejection");
}
