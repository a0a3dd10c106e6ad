/**
 * report.md: the report's sections as Markdown tables and paragraphs. Charts are HTML-only; every
 * chart's figures are also in a table, so nothing is lost here. Text from the results file is
 * escaped (src/report/escape.ts) so it cannot turn into links, markup or extra table columns.
 */
import { cellText, type Block, type ReportDocument, type Table } from './document.js';
import { escapeMarkdown as md } from './escape.js';

export function renderMarkdown(doc: ReportDocument): string {
  const out: string[] = [`# ${md(doc.title)}`, ''];
  for (const h of doc.headlines) out.push(`> ${h.label ? `**${md(h.label)}**: ` : ''}**${md(h.text)}**`, '');
  for (const s of doc.sections) {
    out.push(`## ${md(s.title)}`, '');
    for (const b of s.blocks) {
      const text = block(b);
      if (text) out.push(text, '');
    }
  }
  return out.join('\n');
}

function block(b: Block): string {
  switch (b.kind) {
    case 'text': return md(b.text);
    case 'list': return b.items.map((i) => `- ${md(i)}`).join('\n');
    case 'table': return table(b);
    case 'chart': return '';
  }
}

function table(t: Table): string {
  const numeric = new Set(t.numeric ?? []);
  // an empty header cell would make some renderers drop the table
  const head = t.head.map((h) => md(h) || ' ');
  const rule = t.head.map((_, i) => (numeric.has(i) ? '---:' : '---'));
  const rows = t.rows.map((r) => `| ${r.map((c) => md(cellText(c))).join(' | ')} |`);
  const lines = [...(t.folded ? [`${md(t.folded)}:`, ''] : []), `| ${head.join(' | ')} |`, `| ${rule.join(' | ')} |`, ...rows];
  if (t.note) lines.push('', md(t.note));
  return lines.join('\n');
}
