/**
 * The one error type for bad dataset input. Its message is one line naming the
 * file and, where there is one, the entry inside it.
 * @module
 */

/** A problem with a dataset file; `file` is the zip/folder/JSON path, `entry` the member. */
export class DatasetError extends Error {
  constructor(readonly file: string, readonly entry: string | undefined, readonly reason: string) {
    super(`${file}${entry === undefined ? "" : `: ${entry}`}: ${reason}`);
    this.name = "DatasetError";
  }
}
