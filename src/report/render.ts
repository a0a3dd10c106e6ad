/**
 * A report from one run, or a side-by-side comparison of several: the same document written as
 * report.md and as a self-contained report.html.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PfsimError } from '../errors.js';
import type { ReportDocument } from './document.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { Results } from './schema.js';
import { buildDocument } from './sections/index.js';

export interface RenderOptions {
  /** replaces the generated title ("pfsim benchmark: vm@1a2b3c4") */
  readonly title?: string;
  /** one name per run ("before", "after") instead of host@commit */
  readonly labels?: readonly string[];
}

export interface RenderedReport {
  readonly md: string;
  readonly html: string;
}

/** Renders one run as a report, or several as a comparison against the first. */
export function renderReport(results: readonly Results[], opts: RenderOptions = {}): RenderedReport {
  if (results.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', 'report: no results to render');
  if (opts.labels && opts.labels.length !== results.length) {
    throw new PfsimError('PFSIM_ERR_USAGE', `report: ${opts.labels.length} labels for ${results.length} runs`);
  }
  const built = buildDocument(results, opts.labels);
  const doc: ReportDocument = opts.title ? { ...built, title: opts.title } : built;
  return { md: renderMarkdown(doc), html: renderHtml(doc) };
}

/** Writes report.md and report.html into `dir` (created if missing); returns their paths. */
export function writeReport(dir: string, results: readonly Results[], opts: RenderOptions = {}): { md: string; html: string } {
  const r = renderReport(results, opts);
  const paths = { md: join(dir, 'report.md'), html: join(dir, 'report.html') };
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(paths.md, r.md);
    writeFileSync(paths.html, r.html);
  } catch (e) {
    throw new PfsimError('PFSIM_ERR_INPUT_READ', `${dir}: cannot write the report: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return paths;
}
