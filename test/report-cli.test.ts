/**
 * `pfsim report RESULTS.json... --out DIR` through the built CLI: re-rendering a run, comparing
 * runs, and the one-line errors (with exit codes) for bad files and bad arguments.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { headline } from '../src/report/headline.js';
import { loadResults } from '../src/report/load.js';
import { pfsim } from './helpers/cli.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'report');
const fixture = (name: string) => join(FIXTURES, name);
const tmp = mkdtempSync(join(tmpdir(), 'pfsim-report-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('pfsim report', () => {
  it('re-renders one run: prints its headline and writes report.md and report.html', () => {
    const out = join(tmp, 'one');
    const r = pfsim(['report', fixture('full.json'), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${headline(loadResults(fixture('full.json')))}\nwrote ${join(out, 'report.md')} and ${join(out, 'report.html')}\n`);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/^# pfsim benchmark: bench-a@4f1c2ab\n/);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
  });

  it('compares runs given as files and as run directories (results/latest)', () => {
    const runs = join(tmp, 'results');
    mkdirSync(join(runs, '2026-11-22T16-40-51-902Z-bench-b'), { recursive: true });
    cpSync(fixture('full-b.json'), join(runs, '2026-11-22T16-40-51-902Z-bench-b', 'results.json'));
    symlinkSync('2026-11-22T16-40-51-902Z-bench-b', join(runs, 'latest'));
    const out = join(tmp, 'cmp');
    const r = pfsim(['report', fixture('full.json'), join(runs, 'latest'), '--out', out, '--title', 'before/after']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').length).toBe(4);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/^# before\/after\n/);
    expect(md).toContain('| Engine | Rules | bench-a@4f1c2ab packets/s | bench-b@9e07d5c (× first) |');
  });

  it('a garbled file: one line naming the file and the field, exit 1, nothing written', () => {
    const bad = join(tmp, 'bad.json');
    const r0 = JSON.parse(readFileSync(fixture('full.json'), 'utf8'));
    r0.trials[3].nsPerPacket.median = 'fast';
    writeFileSync(bad, JSON.stringify(r0));
    const out = join(tmp, 'never');
    const r = pfsim(['report', fixture('full.json'), bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`pfsim: ${bad}: trials[3].nsPerPacket.median: expected a number, got "fast"\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('a missing file and a file that is not JSON', () => {
    const missing = join(tmp, 'missing.json');
    expect(pfsim(['report', missing, '--out', join(tmp, 'x')])).toMatchObject({ code: 1, stderr: `pfsim: ${missing}: cannot read: ENOENT\n` });
    const notJson = join(tmp, 'not.json');
    writeFileSync(notJson, 'version: 1\n');
    const r = pfsim(['report', notJson, '--out', join(tmp, 'x')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^pfsim: ${notJson.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not JSON: [^\\n]+\\n$`));
  });

  it('--labels names the runs; a count that does not match is a usage error', () => {
    const out = join(tmp, 'labelled');
    const r = pfsim(['report', fixture('full.json'), fixture('full-b.json'), '--out', out, '--labels', 'before,after']);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| Engine | Rules | before packets/s | after (× first) |');
    expect(md).toContain('> **before**: ');
    expect(pfsim(['report', fixture('full.json'), '--out', out, '--labels', 'a,b'])).toMatchObject({
      code: 2, stderr: 'pfsim: report: --labels names 2 runs, 1 results files given\n',
    });
  });

  it('usage errors exit 2: no file, no --out', () => {
    expect(pfsim(['report', '--out', join(tmp, 'x')]).code).toBe(2);
    const r = pfsim(['report', fixture('full.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--out <dir>' not specified");
  });

  it('--help describes the command', () => {
    const r = pfsim(['report', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: pfsim report \[options\] <results\.\.\.>/);
  });
});
