/**
 * Whether `unshare` with `args` succeeds here: tests that need namespaces of their own (a host
 * name, a tmpfs mount) run only where an unprivileged process may create them.
 */
export async function unshareSucceeds(args: string[]): Promise<boolean> {
  try {
    const probe = await new Deno.Command("unshare", { args, stdout: "null", stderr: "null" })
      .output();
    return probe.success;
  } catch {
    return false; // no unshare
  }
}
