/**
 * `pfsim report RESULTS.json... --out DIR`: re-renders one run's report, or compares several runs
 * (before/after a change, two machines) side by side, ratios against the first.
 */
import type { Command } from 'commander';
import { PfsimError } from '../errors.js';
import { headline } from './headline.js';
import { loadResults } from './load.js';
import { writeReport } from './render.js';

export function registerReportCommand(p: Command): void {
  p.command('report')
    .description('render report.md and report.html from results.json files; several files are compared side by side against the first')
    .argument('<results...>', 'results.json files (or run directories such as results/latest)')
    .requiredOption('--out <dir>', 'directory to write report.md and report.html into')
    .option('--title <text>', 'title of the report')
    .option('--labels <list>', 'comma-separated names of the runs, in order (default host@commit), e.g. before,after')
    .action((files: string[], o: { out: string; title?: string; labels?: string }) => {
      const labels = o.labels?.split(',').map((s) => s.trim());
      if (labels && labels.length !== files.length) {
        throw new PfsimError('PFSIM_ERR_USAGE', `report: --labels names ${labels.length} runs, ${files.length} results files given`);
      }
      if (labels?.includes('')) throw new PfsimError('PFSIM_ERR_USAGE', 'report: --labels has an empty name');
      // validate every file before writing anything, so a bad one leaves no half-written report
      const results = files.map(loadResults);
      const paths = writeReport(o.out, results, { ...(o.title ? { title: o.title } : {}), ...(labels ? { labels } : {}) });
      for (const r of results) process.stdout.write(`${headline(r)}\n`);
      process.stdout.write(`wrote ${paths.md} and ${paths.html}\n`);
    });
}
