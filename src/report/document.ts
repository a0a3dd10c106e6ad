/**
 * The report as data: sections of paragraphs, tables and charts, built once from the results
 * (src/report/sections.ts) and written twice, as Markdown and as HTML. Text here is plain and
 * unescaped; each writer escapes it for its format. Chart SVG is already built and escaped.
 */

export type Tone = 'good' | 'bad' | 'muted';

/** A table cell: plain text, or text with a tone the HTML colours (Markdown ignores it). */
export type Cell = string | { readonly text: string; readonly tone: Tone };

export interface Table {
  readonly kind: 'table';
  readonly head: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  /** right-align these columns (numbers) */
  readonly numeric?: readonly number[];
  /** a table the HTML shows as a chart instead */
  readonly markdownOnly?: boolean;
  /** shown under the table, e.g. "… and 40 more flows" */
  readonly note?: string;
  /** the HTML folds the table away under this summary (details the reader opens on demand) */
  readonly folded?: string;
}

export interface Chart {
  readonly kind: 'chart';
  readonly svg: string;
  readonly caption: string;
}

export type Block =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | Table
  | Chart;

export interface Section {
  /** anchor in the HTML (ASCII, unique) */
  readonly id: string;
  readonly title: string;
  readonly blocks: readonly Block[];
}

export interface ReportDocument {
  readonly title: string;
  /** the headline(s): one per run, labelled when several runs are compared */
  readonly headlines: readonly { readonly label?: string; readonly text: string }[];
  readonly sections: readonly Section[];
}

export const cellText = (c: Cell): string => (typeof c === 'string' ? c : c.text);
