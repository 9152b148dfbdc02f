/** The `demo` command: the main job on the embedded default. */
export async function runDemo(): Promise<void> {
  // Replaced by the real DAG once the pipeline and prep stage exist.
  console.log("demo: not built yet");
  await Promise.resolve();
}
