/**
 * Published numbers we compare against: the one place they live, each with
 * its source (paper and where in it) and the marks the source prints beside
 * it. Only numbers with a cited source belong here; values are as printed.
 * @module
 */

/** A paper numbers are taken from. */
export interface Paper {
  /** Short form for table cells: "Chen et al., ICCV 2023". */
  short: string;
  /** Full citation. */
  citation: string;
}

/** Mimic3D itself. */
export const CHEN_2023: Paper = {
  short: "Chen et al., ICCV 2023",
  citation: "Chen, Deng, Wang: Mimic3D: Thriving 3D-Aware GANs via 3D-to-2D Imitation, " +
    "ICCV 2023 (arXiv:2303.09036)",
};

/** A later comparison that quotes Mimic3D, EG3D and others, and varies the samples per ray. */
export const TREVITHICK_2024: Paper = {
  short: "Trevithick et al., arXiv:2401.02411",
  citation: "Trevithick et al.: What You See is What You GAN: Rendering Every Pixel for " +
    "High-Fidelity Geometry in 3D GANs (arXiv:2401.02411)",
};

/** Marks a source prints beside a number, and what they mean there. */
export const MARKS = {
  "†": "as reported by earlier works (Trevithick et al. quote the number from them)",
  "*": "FID on 20k generated images, not 50k",
} as const;

/** A mark of `MARKS`. */
export type Mark = keyof typeof MARKS;

/** A published value of one metric on one dataset. */
export interface PaperResult {
  method: string;
  /** Dataset key as our presets name them. */
  dataset: "ffhq512" | "afhq512";
  datasetLabel: string;
  /** Our metric key in `metrics.json`. */
  metric: string;
  value: number;
  /** The value as printed (keeps its precision: "4.70"). */
  printed: string;
  /** Samples per ray of the render, where the source varies it (Table 3). */
  samplesPerRay?: number;
  marks: readonly Mark[];
  paper: Paper;
  /** Where in the paper: "abstract", "Table 1". */
  where: string;
}

const DATASETS = {
  ffhq512: "FFHQ-512",
  afhq512: "AFHQv2-Cats-512",
} as const satisfies Record<PaperResult["dataset"], string>;

/**
 * One published FID50k_full, as printed:
 * `fid("EpiGRAF", "ffhq512", "9.92", T, "Table 1", { marks: ["†"] })`.
 */
function fid(
  method: string,
  dataset: PaperResult["dataset"],
  printed: string,
  paper: Paper,
  where: string,
  { marks = [], samplesPerRay }: { marks?: Mark[]; samplesPerRay?: number } = {},
): PaperResult {
  return {
    method,
    dataset,
    datasetLabel: DATASETS[dataset],
    metric: "fid50k_full",
    value: Number(printed),
    printed,
    ...(samplesPerRay === undefined ? {} : { samplesPerRay }),
    marks,
    paper,
    where,
  };
}

const T = TREVITHICK_2024;

/** Every published number, grouped by where it is printed. */
export const PAPER_RESULTS: readonly PaperResult[] = [
  // Mimic3D's abstract: FID of the 3-D branch (direct rendering) at 512².
  fid("Mimic3D", "ffhq512", "5.4", CHEN_2023, "abstract"),
  fid("Mimic3D", "afhq512", "4.3", CHEN_2023, "abstract"),
  fid("EG3D", "ffhq512", "4.70", T, "Table 1"),
  fid("Mimic3D", "ffhq512", "5.37", T, "Table 1"),
  fid("EpiGRAF", "ffhq512", "9.92", T, "Table 1", { marks: ["†"] }),
  fid("StyleSDF", "ffhq512", "11.19", T, "Table 1", { marks: ["†"] }),
  fid("GRAM-HD", "ffhq512", "12.2", T, "Table 1", { marks: ["†", "*"] }),
  fid("MVCGAN", "ffhq512", "13.4", T, "Table 1", { marks: ["†", "*"] }),
  fid("EG3D", "afhq512", "2.77", T, "Table 2"),
  fid("Mimic3D", "afhq512", "4.29", T, "Table 2"),
  fid("GMPI", "afhq512", "7.79", T, "Table 2", { marks: ["†"] }),
  fid("GRAM-HD", "afhq512", "7.67", T, "Table 2", { marks: ["†"] }),
  fid("StyleSDF", "afhq512", "7.91", T, "Table 2"),
  // FID against the samples per ray of the volume render (FFHQ-512; 96 is each method's own).
  ...([[20, "53.57", "193.75"], [50, "13.31", "36.82"], [96, "5.37", "4.70"]] as const).flatMap((
    [samplesPerRay, mimic3d, eg3d],
  ) => [
    fid("Mimic3D", "ffhq512", mimic3d, T, "Table 3", { samplesPerRay }),
    fid("EG3D", "ffhq512", eg3d, T, "Table 3", { samplesPerRay }),
  ]),
];

/** Mimic3D's own headline numbers (its abstract): what the eval report compares with. */
export const MIMIC3D_PAPER_RESULTS: readonly PaperResult[] = PAPER_RESULTS.filter((p) =>
  p.paper === CHEN_2023
);

/** "Trevithick et al., arXiv:2401.02411, Table 1". */
export function sourceOf(p: PaperResult): string {
  return `${p.paper.short}, ${p.where}`;
}

/** The footnotes explaining the marks that occur in `results`. */
export function markNotes(results: readonly PaperResult[]): string[] {
  const used = new Set(results.flatMap((p) => p.marks));
  return (Object.keys(MARKS) as Mark[]).filter((m) => used.has(m)).map((m) => `${m} ${MARKS[m]}`);
}
