/** The run itself: machine and command line, the engines left out and why, and what each engine is. */
import type { Block, Cell, Section } from '../document.js';
import * as f from '../format.js';
import { byEngineOrder } from '../figures.js';
import type { Results } from '../schema.js';
import { runHead, withRun, type Run } from './common.js';

const FIELDS: readonly [string, (r: Results) => string][] = [
  ['Host', (r) => r.machine.host],
  ['CPU', (r) => `${r.machine.cpu} (${r.machine.cores} cores)`],
  ['Memory', (r) => f.bytes(r.machine.memoryBytes)],
  ['Kernel', (r) => r.machine.kernel],
  ['Node.js', (r) => r.machine.node],
  ['Commit', (r) => r.machine.commit],
  ['Started', (r) => r.started],
  ['Duration', (r) => f.seconds(r.seconds)],
  ['Arguments', (r) => (r.args.length ? r.args.join(' ') : '(none)')],
  ['Quick run', (r) => (r.quick ? 'yes: fewer scales and repeats, figures are rough' : 'no')],
];

export function runSection(runs: readonly Run[]): Section {
  const head = runs.length > 1 ? ['', ...runs.map((x) => x.label)] : ['', 'Value'];
  const rows = FIELDS.map(([name, get]) => [name, ...runs.map((x) => get(x.r))]);
  return { id: 'run', title: runs.length > 1 ? 'Runs' : 'Run', blocks: [{ kind: 'table', head, rows }] };
}

export function skippedSection(runs: readonly Run[]): Section {
  const rows: Cell[][] = runs.flatMap((x, i) => x.r.skipped.map((s) => withRun(runs, i, [f.engineLabel(s.engine), s.reason])));
  const blocks: Block[] = rows.length === 0
    ? [{ kind: 'text', text: 'Every engine ran; none was left out.' }]
    : [
      { kind: 'text', text: 'These engines could not run on the machine and have no figures; the headline says what was compared instead.' },
      { kind: 'table', head: runHead(runs, ['Engine', 'Why it was left out']), rows },
    ];
  return { id: 'skipped', title: 'Engines left out', blocks };
}

export function enginesSection(runs: readonly Run[]): Section {
  const seen = new Set(runs.flatMap((x) => [...x.r.trials.map((t) => t.engine as string), ...x.r.skipped.map((s) => s.engine)]));
  const rows = [...seen].sort(byEngineOrder).map((e) => [f.engineLabel(e), f.ENGINE_ABOUT[e] ?? '']);
  return { id: 'engines', title: 'About the engines', blocks: [{ kind: 'table', head: ['Engine', 'What it measures'], rows }] };
}
