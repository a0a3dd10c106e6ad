/**
 * Every benchmark runs once, briefly, so none rots: each trial script starts, produces
 * well-formed figures and exits 0. No timing is asserted here (speed lives in npm run bench).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const node = (script: string, args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', script), ...args], { encoding: 'utf8', timeout: 300_000 });

describe('benchmarks smoke-run', () => {
  for (const [engine, size] of [['chain', '100'], ['maps', '100']] as const) {
    it(`trial ${engine} ${size}`, () => {
      const r = node('trial.js', [engine, size, '1']);
      expect(r.status, r.stderr).toBe(0);
      const fig = JSON.parse(r.stdout.trim());
      expect(fig.engine).toBe(engine);
      expect(fig.nsPerPacket).toBeGreaterThan(0);
      expect(Number.isFinite(fig.nsPerPacket)).toBe(true);
    });
  }

  it('bench runner filters trials and writes results.json', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'run.js'), '--only', 'maps', '--scale', '100', '--quick'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^maps +100 filters +\d+ LPM entries +[\d.]+ ns\/pkt$/m);
    expect(r.stdout).toMatch(/wrote .*results\.json/);
  });

  it('pcap-read against libpcap (one run)', () => {
    const r = node('pcap-read.js', ['--runs', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const fig = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(fig.libpcapPps).toBeGreaterThan(0);
    expect(fig.readPps).toBeGreaterThan(0);
    expect(fig.skipped).toBe(0);
  }, 300_000);
});
