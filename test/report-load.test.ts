/**
 * results.json validation at the edge: every fixture is schema-valid, and each way a file can be
 * wrong (missing, not JSON, another version, a garbled field deep inside) is one line naming the
 * file and the field path, with a stable code.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PfsimError } from '../src/errors.js';
import { loadResults, parseResults, validateResults } from '../src/report/load.js';
import type { Results } from '../src/report/schema.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'report');
const tmp = mkdtempSync(join(tmpdir(), 'pfsim-report-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const raw = (name: string): Record<string, any> => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

function errorOf(fn: () => unknown): PfsimError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PfsimError);
    return e as PfsimError;
  }
  throw new Error('expected a PfsimError, nothing was thrown');
}

/** Validates `full.json` after `mutate`; returns the error's code and message. */
function invalid(mutate: (r: Record<string, any>) => void): { code: string; message: string } {
  const r = raw('full.json');
  mutate(r);
  const e = errorOf(() => validateResults(r, 'r.json'));
  expect(e.message).not.toContain('\n');
  return { code: e.code, message: e.message };
}

describe('results.json fixtures', () => {
  for (const name of ['full.json', 'full-b.json', 'no-kernel.json', 'quick-real.json']) {
    it(`${name} is schema-valid`, () => {
      const r: Results = loadResults(join(FIXTURES, name));
      expect(r.version).toBe(1);
      expect(r.trials.length).toBeGreaterThan(0);
    });
  }

  it('the quick fixture is a quick run and the no-kernel one lacks every kernel engine, with reasons', () => {
    expect(loadResults(join(FIXTURES, 'quick-real.json')).quick).toBe(true);
    const nk = loadResults(join(FIXTURES, 'no-kernel.json'));
    const ran = new Set<string>(nk.trials.map((t) => t.engine));
    for (const e of ['bpf', 'tc', 'iptables', 'nft']) {
      expect(ran.has(e)).toBe(false);
      expect(nk.skipped.find((s) => s.engine === e)?.reason).toBeTruthy();
    }
  });
});

describe('validation errors name the file and the field path', () => {
  it('a garbled number deep inside', () => {
    expect(invalid((r) => { r.trials[3].nsPerPacket.median = 'fast'; }))
      .toEqual({ code: 'PFSIM_ERR_RESULTS', message: 'r.json: trials[3].nsPerPacket.median: expected a number, got "fast"' });
  });

  it('a missing field', () => {
    expect(invalid((r) => { delete r.machine.kernel; }).message).toBe('r.json: machine.kernel: expected a string, got nothing');
  });

  it('null where an optional object may be absent', () => {
    expect(invalid((r) => { r.pool = null; }).message).toBe('r.json: pool: expected an object, got null');
  });

  it("the pool's verdicts-only figures are checked like its others", () => {
    const bad = (set: (v: { byWorkers: unknown[]; speedup: unknown }) => void) => invalid((r) => {
      r.pool.verdictsOnly = { byWorkers: structuredClone(r.pool.byWorkers), speedup: 1.8 };
      set(r.pool.verdictsOnly);
    });
    expect(bad((v) => { v.speedup = -1; }).message).toBe('r.json: pool.verdictsOnly.speedup: expected a number ≥ 0, got -1');
    expect(bad((v) => { v.byWorkers[1] = { workers: 2 }; }).message).toBe('r.json: pool.verdictsOnly.byWorkers[1].pps: expected an object, got nothing');
    expect(invalid((r) => { r.pool.rulesWalkedPerPacket = 'many'; }).message).toBe('r.json: pool.rulesWalkedPerPacket: expected a number, got "many"');
  });

  it("the workers' CPU figures: where present, every field, and none negative", () => {
    const cpu = () => [{ workers: 1, nsPerPacket: 990, slowestOverFastest: 1 }, { workers: 2, nsPerPacket: 1040, slowestOverFastest: 1.03 }];
    expect(invalid((r) => { r.pool.workerCpu = cpu(); r.pool.workerCpu[1].slowestOverFastest = -2; }).message)
      .toBe('r.json: pool.workerCpu[1].slowestOverFastest: expected a number ≥ 0, got -2');
    expect(invalid((r) => { r.pool.verdictsOnly = { byWorkers: structuredClone(r.pool.byWorkers), speedup: 1.8, workerCpu: cpu() }; delete r.pool.verdictsOnly.workerCpu[0].nsPerPacket; }).message)
      .toBe('r.json: pool.verdictsOnly.workerCpu[0].nsPerPacket: expected a number, got nothing');
  });

  it('a negative count and a fractional count', () => {
    expect(invalid((r) => { r.scales[2].chainRules = -1; }).message).toBe('r.json: scales[2].chainRules: expected a number ≥ 0, got -1');
    expect(invalid((r) => { r.trials[0].packets = 1.5; }).message).toBe('r.json: trials[0].packets: expected a whole number, got 1.5');
  });

  it('an unknown engine', () => {
    expect(invalid((r) => { r.trials[1].engine = 'ebpf'; }).message).toMatch(/^r\.json: trials\[1\]\.engine: expected one of chain, maps, .*, got "ebpf"$/);
  });

  it('a spread whose median is outside min–max', () => {
    expect(invalid((r) => { r.trials[0].nsPerPacket.min = r.trials[0].nsPerPacket.max * 2; }).message)
      .toMatch(/^r\.json: trials\[0\]\.nsPerPacket: expected min ≤ median ≤ max, got /);
  });

  it('an agreement matrix of the wrong shape or counting more packets than judged', () => {
    expect(invalid((r) => { r.scales[1].agreement.same.pop(); }).message)
      .toBe(`r.json: scales[1].agreement.same: expected 7 rows (one per engine), got 6`);
    expect(invalid((r) => { r.scales[1].agreement.same[2][3] = r.scales[1].agreement.packets + 1; }).message)
      .toBe(`r.json: scales[1].agreement.same[2][3]: 10001 is more than the 10000 packets judged`);
  });

  it('explained differences: the same shape, and with the same verdicts no more than the packets judged', () => {
    const aws = (r: Record<string, any>) => r.scales[1].agreement.engines.indexOf('aws');
    expect(invalid((r) => { r.scales[1].agreement.explained[0].pop(); }).message)
      .toBe('r.json: scales[1].agreement.explained[0]: expected 7 columns, got 6');
    expect(invalid((r) => { r.scales[1].agreement.explained[0][aws(r)] += 1; }).message)
      .toMatch(/^r\.json: scales\[1\]\.agreement\.explained\[0\]\[6\]: \d+ explained and \d+ same are more than the 10000 packets judged$/);
    expect(invalid((r) => { r.scales[1].agreement.explained = null; }).message)
      .toBe('r.json: scales[1].agreement.explained: expected an array, got null');
  });

  it('a diff verdict that is neither allow nor deny, a diff that is not a list, more changed flows than flows', () => {
    expect(invalid((r) => { r.diff[1].changed[0].after = 'drop'; }).message).toBe('r.json: diff[1].changed[0].after: expected one of allow, deny, got "drop"');
    // the one-object shape of early fixtures is not read as a list of one
    expect(invalid((r) => { r.diff = r.diff[0]; }).message).toBe('r.json: diff: expected an array, got an object');
    expect(invalid((r) => { r.diff[0].flows = 3; }).message).toBe('r.json: diff[0].changed: 16 changed flows of the 3 in the trace');
    expect(invalid((r) => { r.diff[0].label = 7; }).message).toBe('r.json: diff[0].label: expected a string, got 7');
  });

  it('another version, and a file of the old (unversioned) format', () => {
    expect(invalid((r) => { r.version = 2; })).toEqual({ code: 'PFSIM_ERR_RESULTS', message: 'r.json: version: 2 is not supported (this pfsim reads version 1)' });
    const old = { started: '2026-11-26T18:13:13.044Z', commit: '73bf581', results: [{ engine: 'maps', filters: 100 }] };
    expect(errorOf(() => validateResults(old, 'old.json')).message).toBe('old.json: version: missing: not a pfsim results.json (this pfsim reads version 1)');
  });

  it('a top level that is not an object', () => {
    expect(errorOf(() => validateResults([1, 2], 'a.json')).message).toBe('a.json: (top level): expected an object, got an array');
  });

  it('unknown fields are ignored (newer optional fields pass)', () => {
    const r = raw('full.json');
    r.somethingNew = { x: 1 };
    r.trials[0].extra = 'y';
    expect(() => validateResults(r, 'r.json')).not.toThrow();
  });
});

describe('reading files', () => {
  it('not JSON: line and column, one line', () => {
    const e = errorOf(() => parseResults('{\n  "version": 1,\n  "started": }', 'bad.json'));
    expect(e.code).toBe('PFSIM_ERR_INPUT_PARSE');
    expect(e.message).toMatch(/^bad\.json: not JSON: /);
    expect(e.message).not.toContain('\n');
  });

  it('a truncated file and an empty file', () => {
    const full = readFileSync(join(FIXTURES, 'full.json'), 'utf8');
    const e = errorOf(() => parseResults(full.slice(0, 500), 'cut.json'));
    expect(e.code).toBe('PFSIM_ERR_INPUT_PARSE');
    expect(e.message).not.toContain('\n');
    expect(errorOf(() => parseResults('  \n', 'empty.json')).message).toBe('empty.json: empty file, expected a results.json');
  });

  it('a missing file', () => {
    const file = join(tmp, 'nope.json');
    const e = errorOf(() => loadResults(file));
    expect(e.code).toBe('PFSIM_ERR_INPUT_READ');
    expect(e.message).toBe(`${file}: cannot read: ENOENT`);
  });

  it('a run directory stands for its results.json', () => {
    const dir = join(tmp, 'run');
    mkdirSync(dir);
    writeFileSync(join(dir, 'results.json'), readFileSync(join(FIXTURES, 'no-kernel.json')));
    expect(loadResults(dir).machine.host).toBe('laptop');
    const empty = join(tmp, 'empty-run');
    mkdirSync(empty);
    expect(errorOf(() => loadResults(empty)).message).toBe(`${join(empty, 'results.json')}: cannot read: ENOENT`);
  });
});
