/**
 * report.html: one self-contained page — inline CSS and inline SVG charts, no script, no fonts,
 * no network. A Content-Security-Policy forbids every fetch and script, so even a string that
 * slipped through escaping could not run or call out. Text from the results file is escaped.
 */
import { cellText, type Block, type Cell, type ReportDocument, type Table } from './document.js';
import { escapeHtml as h } from './escape.js';

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f; background: #fafafa; margin: 0; }
header, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 24px; }
h1 { font-size: 1.6em; margin: 0 0 12px; }
h2 { font-size: 1.25em; margin: 36px 0 10px; padding-top: 8px; border-top: 1px solid #ddd; }
.headline { background: #eef5fb; border-left: 4px solid #0072B2; padding: 12px 16px; margin: 0 0 12px; font-size: 1.1em; }
.headline .label { font-weight: 600; margin-right: .4em; }
nav { font-size: .9em; margin: 8px 0 0; }
nav a { margin-right: 12px; white-space: nowrap; color: #0b5cad; }
figure { margin: 16px 0; background: #fff; border: 1px solid #e3e3e3; border-radius: 4px; padding: 8px; }
figure .scroll, .table-wrap { overflow-x: auto; }
figcaption { color: #555; font-size: .9em; margin-top: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 10px 0; background: #fff; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.good { background: #e2f3de; }
td.bad { background: #fbdcd7; }
td.muted { color: #777; }
p.note { color: #666; font-size: .9em; }
details { margin: 10px 0; }
summary { cursor: pointer; color: #0b5cad; }
footer { color: #777; font-size: .85em; padding: 24px 20px 40px; }
`;

export function renderHtml(doc: ReportDocument): string {
  const nav = doc.sections.map((s) => `<a href="#${h(s.id)}">${h(s.title)}</a>`).join('');
  const headlines = doc.headlines.map((x) => `<p class="headline">${x.label ? `<span class="label">${h(x.label)}:</span>` : ''}${h(x.text)}</p>`).join('\n');
  const sections = doc.sections.map((s) => `<section id="${h(s.id)}">\n<h2>${h(s.title)}</h2>\n${s.blocks.map(block).filter(Boolean).join('\n')}\n</section>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${h(doc.title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${h(doc.title)}</h1>
${headlines}
<nav>${nav}</nav>
</header>
<main>
${sections}
</main>
<footer>Written by <code>pfsim report</code> from results.json; every figure is in the file it was rendered from. Hover a chart mark for its exact figure.</footer>
</body>
</html>
`;
}

function block(b: Block): string {
  switch (b.kind) {
    case 'text': return `<p>${h(b.text)}</p>`;
    case 'list': return `<ul>${b.items.map((i) => `<li>${h(i)}</li>`).join('')}</ul>`;
    case 'table': return b.markdownOnly ? '' : table(b);
    case 'chart': return `<figure><div class="scroll">${b.svg}</div><figcaption>${h(b.caption)}</figcaption></figure>`;
  }
}

function table(t: Table): string {
  const numeric = new Set(t.numeric ?? []);
  const head = `<tr>${t.head.map((c) => `<th>${h(c)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r) => `<tr>${r.map((c, i) => td(c, numeric.has(i))).join('')}</tr>`).join('\n');
  const note = t.note ? `<p class="note">${h(t.note)}</p>` : '';
  const html = `<div class="table-wrap"><table>\n<thead>${head}</thead>\n<tbody>\n${rows}\n</tbody>\n</table></div>${note}`;
  return t.folded ? `<details><summary>${h(t.folded)}</summary>\n${html}</details>` : html;
}

function td(c: Cell, numeric: boolean): string {
  const classes = [numeric ? 'num' : '', typeof c === 'string' ? '' : c.tone].filter(Boolean);
  return `<td${classes.length ? ` class="${classes.join(' ')}"` : ''}>${h(cellText(c))}</td>`;
}
