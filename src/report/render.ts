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
import type { PolicyDiff, Results } from './schema.js';
import { buildDiffDocument, buildDocument } from './sections/index.js';

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

/** Renders policy changes alone (`pfsim diff --out`): their section, one headline per change. */
export function renderDiffReport(diffs: readonly PolicyDiff[], opts: Pick<RenderOptions, 'title'> = {}): RenderedReport {
  if (diffs.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', 'report: no policy change to render');
  const built = buildDiffDocument(diffs);
  const doc: ReportDocument = opts.title ? { ...built, title: opts.title } : built;
  return { md: renderMarkdown(doc), html: renderHtml(doc) };
}

/** Writes report.md and report.html into `dir` (created if missing); returns their paths. */
export function writeReport(dir: string, results: readonly Results[], opts: RenderOptions = {}): { md: string; html: string } {
  return writeRendered(dir, renderReport(results, opts));
}

/** Writes the report of policy changes alone into `dir`, as writeReport does. */
export function writeDiffReport(dir: string, diffs: readonly PolicyDiff[], opts: Pick<RenderOptions, 'title'> = {}): { md: string; html: string } {
  return writeRendered(dir, renderDiffReport(diffs, opts));
}

function writeRendered(dir: string, r: RenderedReport): { md: string; html: string } {
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
