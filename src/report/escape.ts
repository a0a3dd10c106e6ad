/**
 * Escaping for every string that comes from a results file (host names, CPU models, flows,
 * reasons, command-line arguments): HTML text and attribute values, and Markdown table cells.
 * A results.json is data from another machine; nothing in it may become markup.
 */

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
};

/** Safe inside HTML/SVG text and inside quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

/**
 * Safe inside a Markdown paragraph or table cell: no line breaks, no pipes, no inline markup,
 * links, code spans or raw HTML. Control characters become spaces.
 */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/[\\`*[\]|#]/g, (c) => `\\${c}`)
    // an underscore inside a word (nf_tables) is never emphasis; only word-edge ones need escaping
    .replace(/_/g, (c, at: number, text: string) => (/[\p{L}\p{N}]/u.test(text[at - 1] ?? '') && /[\p{L}\p{N}]/u.test(text[at + 1] ?? '') ? c : '\\_'))
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}
