/**
 * Do the engines give the same verdicts? The agreement matrix (engines × engines, packets on which
 * each pair agreed, over every scale point), the denied flows with the policy reason, the `aws`
 * engine's departures from Kubernetes semantics and the flows a policy change flips.
 */
import { matrixChart } from '../charts.js';
import type { Block, Cell, Section } from '../document.js';
import * as f from '../format.js';
import { diffSentence } from '../headline.js';
import { DEPARTING, departures, disagreements, totalAgreement, type AgreementTotal } from '../figures.js';
import type { PolicyDiff, ScalePoint } from '../schema.js';
import { MAX_ROWS, runHead, runNumeric, withRun, type Run } from './common.js';

const cluster = (p: ScalePoint) => (p.workload === 'scale' ? `${f.scale(p.scale)} rules` : `${p.workload} (${f.int(p.scale)} rules)`);

export function agreementSection(runs: readonly Run[]): Section | undefined {
  const measured = runs.map((x) => x.r.scales.filter((p) => p.agreement.engines.length > 1));
  if (measured.every((m) => m.length === 0)) return undefined;
  const blocks: Block[] = [{ kind: 'text', text: 'Every engine judged the same packets at each point of the sweep. A cell counts the packets on which two engines gave the same verdict, summed over every point where both ran: green when they agreed on every packet, red with the number that differ when not. Amber marks differences that a known departure explains: the aws engine gives the VPC CNI agent\'s answer, which departs from Kubernetes semantics by design, for the reasons listed under Departures; an aws difference with no known reason is red like any other.' }];
  runs.forEach((x, i) => {
    if (measured[i]!.length === 0) return;
    const total = totalAgreement(measured[i]!);
    const labels = total.engines.map(f.engineLabel);
    const title = runs.length > 1 ? `Verdict agreement · ${x.label}` : 'Verdict agreement';
    blocks.push({ kind: 'chart', caption: `${title}: packets with the same verdict, per engine pair.`,
      svg: matrixChart({ title, labels, format: f.count, cells: total.same.map((row, a) => row.map((same, b) => ({ same, total: total.judged[a]![b]!, explained: total.explained[a]![b]! }))) }) });
    blocks.push(matrixTable(total, runs.length > 1 ? x.label : undefined));
  });
  const rows: Cell[][] = runs.flatMap((x, i) => measured[i]!.map((p) => withRun(runs, i, [
    cluster(p), p.agreement.engines.map(f.engineLabel).join(', '), f.int(p.agreement.packets), pointResult(p),
  ])));
  blocks.push({ kind: 'table', head: runHead(runs, ['Cluster', 'Engines', 'Packets', 'Result']), rows, numeric: runNumeric(runs, [2]) });
  return { id: 'agreement', title: 'Verdict agreement', blocks };
}

/** The matrix as a table, for the Markdown report (the HTML draws it). */
function matrixTable(t: AgreementTotal, label?: string): Block {
  const rows: Cell[][] = t.engines.map((a, i) => [f.engineLabel(a), ...t.engines.map((_, j): Cell => {
    const judged = t.judged[i]![j]!, same = t.same[i]![j]!, explained = t.explained[i]![j]!;
    if (judged === 0) return '–';
    if (same === judged) return f.int(same);
    if (same + explained === judged) return { text: `${f.int(same)} of ${f.int(judged)} (departs)`, tone: 'muted' };
    return { text: `${f.int(same)} of ${f.int(judged)}`, tone: 'bad' };
  })]);
  return { kind: 'table', head: [label ?? '', ...t.engines.map(f.engineLabel)], rows, numeric: t.engines.map((_, i) => i + 1), markdownOnly: true };
}

function pointResult(p: ScalePoint): Cell {
  const engines = p.agreement.engines;
  const total = totalAgreement([p]);
  const among = disagreements(total), departed = departures(total);
  if (among.length === 0 && departed.length === 0) return { text: `all ${engines.length} engines agree on every packet`, tone: 'good' };
  const exact = engines.filter((e) => !DEPARTING.has(e));
  const parts: string[] = [];
  if (among.length > 0) parts.push(describePairs(among, engines));
  else if (exact.length > 1) parts.push(`the other ${exact.length} engines agree on every packet`);
  for (const e of engines.filter((x) => DEPARTING.has(x))) {
    const worst = departed.find((d) => d.a === e || d.b === e);
    if (worst) parts.push(`${f.engineLabel(e)} departs from Kubernetes on ${f.int(worst.differ)} for known reasons`);
  }
  return { text: parts.join('; '), tone: among.length > 0 ? 'bad' : 'muted' };
}

/** "nft differs from the other 5 on 12" when one engine is the odd one out, else the pairs (three at most). */
function describePairs(pairs: ReturnType<typeof disagreements>, engines: readonly string[]): string {
  const odd = engines.find((e) => pairs.length === engines.length - 1 && pairs.every((d) => (d.a === e || d.b === e) && d.differ === pairs[0]!.differ));
  if (odd) return `${f.engineLabel(odd)} differs from the other ${engines.length - 1} on ${f.int(pairs[0]!.differ)}`;
  const listed = pairs.slice(0, 3).map((x) => `${f.engineLabel(x.a)} ≠ ${f.engineLabel(x.b)} on ${f.int(x.differ)}`);
  return listed.join('; ') + (pairs.length > 3 ? `; ${pairs.length - 3} more pairs differ` : '');
}

export function deniedSection(runs: readonly Run[]): Section {
  const rows: Cell[][] = [];
  let hidden = 0;
  runs.forEach((x, i) => {
    const flows = x.r.deniedFlows;
    hidden += Math.max(0, flows.length - MAX_ROWS);
    for (const d of flows.slice(0, MAX_ROWS)) {
      rows.push(withRun(runs, i, [d.workload, d.flow, f.int(d.packets), d.deniedBy.map(f.engineLabel).join(', '), d.reason]));
    }
  });
  const blocks: Block[] = rows.length === 0
    ? [{ kind: 'text', text: 'No engine denied a flow in this run.' }]
    : [
      { kind: 'text', text: 'Flows some engine denied, with the policy reason the compiled plan gives for the verdict.' },
      { kind: 'table', head: runHead(runs, ['Workload', 'Flow', 'Packets', 'Denied by', 'Reason']), rows, numeric: runNumeric(runs, [2]),
        ...(hidden > 0 ? { note: `… and ${f.int(hidden)} more denied flows in the results file.` } : {}) },
    ];
  return { id: 'denied', title: 'Denied flows', blocks };
}

export function departuresSection(runs: readonly Run[]): Section | undefined {
  if (runs.every((x) => !x.r.departures)) return undefined;
  const blocks: Block[] = [];
  runs.forEach((x, i) => {
    const deps = [...(x.r.departures ?? [])].sort((a, b) => b.packets - a.packets);
    const total = deps.reduce((s, d) => s + d.packets, 0);
    const who = runs.length > 1 ? `${x.label}: ` : '';
    const reasons = new Set(deps.map((d) => d.reason)).size;
    blocks.push({ kind: 'text', text: f.capitalise(deps.length === 0
      ? `${who}the aws engine gave the Kubernetes answer on every packet.`
      : `${who}the aws engine departs from the Kubernetes answer on ${f.int(total)} packets, for ${reasons} reason${reasons === 1 ? '' : 's'}.`) });
  });
  const rows: Cell[][] = runs.flatMap((x, i) => [...(x.r.departures ?? [])].sort((a, b) => b.packets - a.packets)
    .map((d) => withRun(runs, i, [d.workload, d.workload === 'scale' ? f.scale(d.scale) : f.int(d.scale), d.reason, f.int(d.packets), d.example])));
  if (rows.length > 0) blocks.push({ kind: 'table', head: runHead(runs, ['Workload', 'Rules', 'Reason', 'Packets', 'Example flow']), rows, numeric: runNumeric(runs, [1, 3]) });
  return { id: 'departures', title: 'Departures of the aws engine from Kubernetes semantics', blocks };
}

export function diffSection(runs: readonly Run[]): Section | undefined {
  return policyDiffSection(runs.flatMap((x) => (x.r.diff ?? []).map((d) => ({ who: runs.length > 1 ? `${x.label}: ` : '', d }))));
}

/** The section for policy changes, each under a prefix naming its run (or ''); undefined when none. */
export function policyDiffSection(diffs: readonly { readonly who: string; readonly d: PolicyDiff }[]): Section | undefined {
  if (diffs.length === 0) return undefined;
  const blocks: Block[] = [{ kind: 'text', text: 'A capture replayed under two cluster states, each from a fresh start (conntrack empty): the connections whose verdict (on their first packet) changes, newly denied first, with the policy responsible on each side.' }];
  for (const x of diffs) blocks.push(...diffBlocks(x.d, x.who));
  return { id: 'diff', title: 'Flows a policy change flips', blocks };
}

function diffBlocks(d: PolicyDiff, who: string): Block[] {
  const engine = d.engine ? `, judged by ${f.engineLabel(d.engine)}` : '';
  const packets = d.packets !== undefined ? ` (${f.int(d.packets)} packets)` : '';
  const blocks: Block[] = [{ kind: 'text', text: `${who}${f.capitalise(diffSentence(d))}. ${d.trace}${packets} replayed under the state before (${d.before.join(', ') || 'nothing'}) and after (${d.after.join(', ') || 'nothing'})${engine}.` }];
  if (d.changed.length === 0) return blocks;
  const tone = (v: 'allow' | 'deny'): Cell => ({ text: v, tone: v === 'allow' ? 'good' : 'bad' });
  const rows: Cell[][] = d.changed.slice(0, MAX_ROWS).map((c) => [c.flow, f.int(c.packets), tone(c.before), tone(c.after), c.beforeReason, c.afterReason]);
  blocks.push({ kind: 'table', head: ['Flow', 'Packets', 'Before', 'After', 'Reason before', 'Reason after'], rows, numeric: [1],
    ...(d.changed.length > MAX_ROWS ? { note: `… and ${f.int(d.changed.length - MAX_ROWS)} more changed flows in the results file.` } : {}) });
  return blocks;
}
