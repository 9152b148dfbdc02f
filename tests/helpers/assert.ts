/** Minimal assertions (Deno's std lives on JSR, which is unreachable here). */
import { deepStrictEqual } from "node:assert";

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
