/** The benchmark report: load results.json, write report.md and report.html, the headline sentence. */
export { headline } from './headline.js';
export { loadResults, parseResults, validateResults } from './load.js';
export { renderDiffReport, renderReport, writeDiffReport, writeReport, type RenderOptions, type RenderedReport } from './render.js';
export type { PolicyDiff, Results } from './schema.js';
