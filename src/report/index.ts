/** The benchmark report: load results.json, write report.md and report.html, the headline sentence. */
export { headline } from './headline.js';
export { loadResults, parseResults, validateResults } from './load.js';
export { renderReport, writeReport, type RenderOptions, type RenderedReport } from './render.js';
export type { Results } from './schema.js';
