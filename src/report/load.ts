/**
 * Reading results.json at the edge: the file is checked field by field against the schema
 * (src/report/schema.ts) before anything renders it, so a missing, garbled or other-version file
 * is one line naming the file and the field path — `r.json: trials[3].nsPerPacket.median:
 * expected a number, got "fast"` — and never a crash deep in a chart.
 *
 * Errors: PFSIM_ERR_INPUT_READ (cannot read), PFSIM_ERR_INPUT_PARSE (not JSON), PFSIM_ERR_RESULTS
 * (not the schema, or another version). Unknown fields are ignored so newer optional fields pass.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PfsimError } from '../errors.js';
import { RESULTS_VERSION, TRIAL_ENGINES, type Results } from './schema.js';

class Invalid extends Error {
  constructor(readonly at: string, readonly why: string) { super(`${at}: ${why}`); }
}

type Check = (v: unknown, at: string) => void;

function fail(at: string, why: string): never {
  throw new Invalid(at, why);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 24 ? `${v.slice(0, 21)}...` : v);
  return String(v);
}

const field = (at: string, key: string) => (at ? `${at}.${key}` : key);

const number: Check = (v, at) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(at, `expected a number, got ${describe(v)}`);
};
const nonNegative: Check = (v, at) => {
  number(v, at);
  if ((v as number) < 0) fail(at, `expected a number ≥ 0, got ${describe(v)}`);
};
const count: Check = (v, at) => {
  nonNegative(v, at);
  if (!Number.isInteger(v)) fail(at, `expected a whole number, got ${describe(v)}`);
};
const string: Check = (v, at) => {
  if (typeof v !== 'string') fail(at, `expected a string, got ${describe(v)}`);
};
const boolean: Check = (v, at) => {
  if (typeof v !== 'boolean') fail(at, `expected true or false, got ${describe(v)}`);
};
const oneOf = (values: readonly string[]): Check => (v, at) => {
  if (typeof v !== 'string' || !values.includes(v)) fail(at, `expected one of ${values.join(', ')}, got ${describe(v)}`);
};
const array = (item: Check): Check => (v, at) => {
  if (!Array.isArray(v)) fail(at, `expected an array, got ${describe(v)}`);
  v.forEach((x, i) => item(x, `${at}[${i}]`));
};

/** An object with required fields, optional ones (absent is fine, null is not) and a cross-field check. */
function object(required: Record<string, Check>, optional: Record<string, Check> = {}, also?: (o: Record<string, unknown>, at: string) => void): Check {
  return (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at || '(top level)', `expected an object, got ${describe(v)}`);
    const o = v as Record<string, unknown>;
    for (const [k, check] of Object.entries(required)) check(o[k], field(at, k));
    for (const [k, check] of Object.entries(optional)) if (k in o) check(o[k], field(at, k));
    also?.(o, at);
  };
}

const spread = object({ median: nonNegative, min: nonNegative, max: nonNegative, n: count }, {}, (o, at) => {
  const { min, median, max, n } = o as { min: number; median: number; max: number; n: number };
  if (n < 1) fail(field(at, 'n'), 'expected at least 1 repeat, got 0');
  // tolerate rounding in files written by other tools
  const eps = 1e-9 * Math.max(1, max);
  if (min > median + eps || median > max + eps) fail(at, `expected min ≤ median ≤ max, got ${min}, ${median}, ${max}`);
});

const machine = object({ host: string, cpu: string, cores: count, memoryBytes: nonNegative, kernel: string, node: string, commit: string });

const trial = object(
  { workload: string, scale: count, engine: oneOf(TRIAL_ENGINES), packets: count, nsPerPacket: spread, pps: nonNegative },
  { rulesWalkedPerPacket: nonNegative, nsPerRule: number, allow: count, deny: count },
);

/** An engines × engines matrix of packet counts, each at most `packets`. */
function squareMatrix(m: number[][], engines: readonly string[], packets: number, at: string): void {
  if (m.length !== engines.length) fail(at, `expected ${engines.length} rows (one per engine), got ${m.length}`);
  m.forEach((row, i) => {
    if (row.length !== engines.length) fail(`${at}[${i}]`, `expected ${engines.length} columns, got ${row.length}`);
    row.forEach((x, j) => { if (x > packets) fail(`${at}[${i}][${j}]`, `${x} is more than the ${packets} packets judged`); });
  });
}

const agreement = object({ engines: array(string), packets: count, same: array(array(count)) }, { explained: array(array(count)) }, (o, at) => {
  const engines = o['engines'] as string[], same = o['same'] as number[][], packets = o['packets'] as number;
  if (new Set(engines).size !== engines.length) fail(field(at, 'engines'), 'names an engine twice');
  squareMatrix(same, engines, packets, field(at, 'same'));
  if (!('explained' in o)) return;
  const explained = o['explained'] as number[][];
  squareMatrix(explained, engines, packets, field(at, 'explained'));
  explained.forEach((row, i) => row.forEach((x, j) => {
    // an explained difference is a difference: it and the same verdicts share the packets
    if (x + same[i]![j]! > packets) fail(`${field(at, 'explained')}[${i}][${j}]`, `${x} explained and ${same[i]![j]} same are more than the ${packets} packets judged`);
  }));
});

const update = object(
  { change: string, bpfOps: count, chainRulesRewritten: count },
  { iptablesLegacyMs: spread, nftMs: spread, bpfMs: spread },
);

const scalePoint = object(
  { workload: string, scale: count, chainRules: count, chainBytes: count, mapEntries: count, mapBytes: count, compileMs: spread, agreement },
  { update },
);

const byWorkers = array(object({ workers: count, pps: spread }));
const workerCpu = array(object({ workers: count, nsPerPacket: nonNegative, slowestOverFastest: nonNegative }));
const pool = object(
  { trace: string, packets: count, engines: array(string), byWorkers, speedup: nonNegative },
  { verdictsOnly: object({ byWorkers, speedup: nonNegative }, { workerCpu }), rulesWalkedPerPacket: nonNegative, workerCpu },
);

const capture = object({ trace: string, packets: count, libpcapPps: spread, readPps: spread, verdictPps: spread });

const verdict = oneOf(['allow', 'deny']);
const diff = object(
  {
    before: array(string), after: array(string), trace: string, flows: count,
    changed: array(object({ flow: string, packets: count, before: verdict, after: verdict, beforeReason: string, afterReason: string })),
  },
  { label: string, engine: string, packets: count },
  (o, at) => {
    const flows = o['flows'] as number, changed = (o['changed'] as unknown[]).length;
    if (changed > flows) fail(field(at, 'changed'), `${changed} changed flows of the ${flows} in the trace`);
  },
);

const results = object(
  {
    version: count, started: string, seconds: nonNegative, machine, args: array(string), quick: boolean,
    trials: array(trial), scales: array(scalePoint),
    skipped: array(object({ engine: string, reason: string })),
    deniedFlows: array(object({ workload: string, flow: string, packets: count, deniedBy: array(string), reason: string })),
    headline: string,
  },
  {
    pool, capture, diff: array(diff),
    departures: array(object({ workload: string, scale: count, reason: string, packets: count, example: string })),
  },
);

/** Checks a parsed results.json; throws PFSIM_ERR_RESULTS naming `file` and the field path. */
export function validateResults(value: unknown, file: string): Results {
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('(top level)', `expected an object, got ${describe(value)}`);
    const version = (value as Record<string, unknown>)['version'];
    if (version === undefined) fail('version', `missing: not a pfsim results.json (this pfsim reads version ${RESULTS_VERSION})`);
    if (version !== RESULTS_VERSION) fail('version', `${describe(version)} is not supported (this pfsim reads version ${RESULTS_VERSION})`);
    results(value, '');
    return value as Results;
  } catch (e) {
    if (e instanceof Invalid) throw new PfsimError('PFSIM_ERR_RESULTS', oneLine(`${file}: ${e.at}: ${e.why}`));
    throw e;
  }
}

/** Parses and checks the text of a results.json read from `file`. */
export function parseResults(text: string, file: string): Results {
  if (text.trim() === '') throw new PfsimError('PFSIM_ERR_INPUT_PARSE', `${file}: empty file, expected a results.json`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new PfsimError('PFSIM_ERR_INPUT_PARSE', oneLine(`${file}: not JSON: ${jsonMessage((e as Error).message, text)}`));
  }
  return validateResults(value, file);
}

/** Reads a results.json; a run's directory (results/latest) stands for the results.json in it. */
export function loadResults(path: string): Results {
  let file = path;
  let text: string;
  try {
    if (statSync(path).isDirectory()) file = join(path, 'results.json');
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PfsimError('PFSIM_ERR_INPUT_READ', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseResults(text, file);
}

/** V8 quotes the whole input in some JSON errors: keep its first clause, and turn a position into a line and column. */
function jsonMessage(m: string, text: string): string {
  const first = m.split(/, "|\n/)[0]!;
  const pos = /^(.*) in JSON at position (\d+)/.exec(first);
  if (!pos) return first;
  const before = text.slice(0, Number(pos[2]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `line ${line} column ${column}: ${pos[1]}`;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
