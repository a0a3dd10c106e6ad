/**
 * The report's sections in reading order: the question answered first (headline, then what was
 * left out), the figures behind it, then verdicts, then the machine. Sections without data in any
 * of the runs are left out rather than shown empty.
 */
import type { ReportDocument, Section } from '../document.js';
import { capitalise } from '../format.js';
import { diffSentence, headline } from '../headline.js';
import type { PolicyDiff, Results } from '../schema.js';
import { labelRuns } from './common.js';
import { captureSection, poolSection } from './extras.js';
import { enginesSection, runSection, skippedSection } from './run.js';
import { memorySection, updateSection } from './static.js';
import { throughputSection } from './throughput.js';
import { agreementSection, deniedSection, departuresSection, diffSection, policyDiffSection } from './verdicts.js';

/** The document for one run, or several compared against the first; `labels` name the runs. */
export function buildDocument(results: readonly Results[], labels?: readonly string[]): ReportDocument {
  const runs = labelRuns(results, labels);
  const sections: (Section | undefined)[] = [
    skippedSection(runs),
    throughputSection(runs),
    agreementSection(runs),
    memorySection(runs),
    updateSection(runs),
    deniedSection(runs),
    departuresSection(runs),
    diffSection(runs),
    poolSection(runs),
    captureSection(runs),
    runSection(runs),
    enginesSection(runs),
  ];
  return {
    title: runs.length > 1 ? `pfsim benchmark: ${runs.length} runs compared` : `pfsim benchmark: ${runs[0]!.label}`,
    // recomputed from the figures rather than taken from the file: an older file gets today's wording
    headlines: runs.map((x) => ({ ...(runs.length > 1 ? { label: x.label } : {}), text: headline(x.r) })),
    sections: sections.filter((s): s is Section => s !== undefined),
  };
}

/**
 * The document for policy changes alone (`pfsim diff --out`): one headline per change and the
 * section that lists the connections each one flips.
 */
export function buildDiffDocument(diffs: readonly PolicyDiff[]): ReportDocument {
  const section = policyDiffSection(diffs.map((d) => ({ who: '', d })));
  return {
    title: `pfsim diff: ${[...new Set(diffs.map((d) => d.trace))].join(', ')}`,
    headlines: diffs.map((d) => ({ text: `${capitalise(diffSentence(d))}.` })),
    sections: section ? [section] : [],
  };
}
