/** Minimal assertions over node:assert (JSR's std/assert is unreachable here). */
import nodeAssert from "node:assert/strict";

/** Asserts a condition. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Deep strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Asserts `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  nodeAssert.ok(
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
    nodeAssert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err}`);
    if (includes) assertStringIncludes((err as Error).message, includes);
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: "expected a rejection" });
}
