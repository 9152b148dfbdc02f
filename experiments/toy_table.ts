/** A results table over the toy experiment's lr × momentum grid, with made-up reference numbers. */
import { defineTable, gridRows } from "../pipeline/mod.ts";
import toy from "./toy.ts";

export default defineTable({
  title: "Toy descent: loss and score by learning rate and momentum",
  experiment: toy,
  node: "evaluate",
  rows: gridRows(
    { "train.lr": [0.05, 0.1], "train.momentum": [0, 0.5] },
    { "lr=0.1, momentum=0": { loss: 0.004, score: 71.4 } }, // "published" numbers for one row
  ),
  columns: [
    { metric: "loss", digits: 5 },
    { metric: "score", label: "Score", digits: 2 },
  ],
  referenceLabel: "paper",
});
