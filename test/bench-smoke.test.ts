/**
 * Every benchmark step runs once, briefly, so none rots: each script starts, produces figures of
 * the results.json schema and exits 0. No timing is asserted here (speed lives in npm run bench);
 * what is asserted is what the figures rest on: the workloads have the sizes they claim, the
 * traffic has the mix it claims, and every engine gives the same verdicts in the trials.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTrace } from '../bench/traffic.js';
import { filtersFor, SCALES, workloadCluster } from '../bench/suite.js';
import { scaleCluster } from '../bench/workloads.js';
import { openCapture, META_STATUS, META_WORDS } from '../src/capture/reader.js';
import { compile } from '../src/compile/index.js';
import { ChainEngine } from '../src/engines/chain.js';
import { OUT_WORDS, VERDICT_ALLOW } from '../src/engines/engine.js';
import { PKT_F_SYN, PKT_F_ACK, readPacket } from '../src/engines/packet.js';
import { ROOT } from './helpers/cli.js';

const node = (script: string, args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', script), ...args], { encoding: 'utf8', timeout: 300_000 });
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);
const tmp = mkdtempSync(join(tmpdir(), 'pfsim-bench-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const chainRules = (scale: number) => {
  const p = compile(workloadCluster('scale', scale));
  return [p.chain.ipv4, p.chain.ipv6].reduce((s, t) => s + t.chains.reduce((a, c) => a + c.rules.length, 0), 0);
};

describe('bench workloads', () => {
  it('each scale compiles to a chain of about that many rules', () => {
    for (const scale of SCALES.filter((s) => s >= 100 && s <= 10000)) {
      const n = chainRules(scale);
      expect(Math.abs(n - scale) / scale, `scale ${scale}: ${n} rules`).toBeLessThan(0.05);
    }
    expect(chainRules(10)).toBeLessThan(20);
  });

  it('the traffic mix: new, mid-stream, denied and UDP connections, IPv4 and IPv6, no martians', () => {
    const { rules, cluster } = scaleCluster(filtersFor(1000), 1, { dualStack: true });
    const file = join(tmp, 'mix.pcap');
    expect(ensureTrace(file, rules, 20_000)).toBe(true);
    expect(ensureTrace(file, rules, 20_000)).toBe(false); // reused
    let syn = 0, synAck = 0, udp = 0, v6 = 0, n = 0;
    const plan = compile(cluster);
    const chain = new ChainEngine(plan, { stateful: true });
    let allowed = 0, deniedSyn = 0;
    for (const b of openCapture(file)) {
      const out = new Uint32Array(b.count * OUT_WORDS);
      for (let i = 0; i < b.count; i++) expect(b.meta[i * META_WORDS + META_STATUS]).toBe(0);
      chain.classify(b.pkts, b.count, out);
      for (let i = 0; i < b.count; i++, n++) {
        const h = readPacket(b.pkts, i);
        const flags = h.flags ?? 0;
        if (h.proto === 17) udp++;
        if (h.src >> 32n !== 0xffffn) v6++;
        if ((flags & (PKT_F_SYN | PKT_F_ACK)) === PKT_F_SYN) syn++;
        if ((flags & (PKT_F_SYN | PKT_F_ACK)) === (PKT_F_SYN | PKT_F_ACK)) synAck++;
        if (out[i * OUT_WORDS] === VERDICT_ALLOW) allowed++;
        else if ((flags & (PKT_F_SYN | PKT_F_ACK)) === PKT_F_SYN) deniedSyn++;
      }
    }
    expect(n).toBe(20_000);
    // handshakes are answered, denied attempts (three SYNs each) are not
    expect(syn).toBeGreaterThan(synAck * 1.5);
    expect(deniedSyn).toBeGreaterThan(n * 0.05);
    expect(allowed).toBeGreaterThan(n * 0.6);
    expect(udp / n).toBeGreaterThan(0.02);
    expect(v6 / n).toBeGreaterThan(0.1);
    expect(v6 / n).toBeLessThan(0.35);
  });
});

describe('bench steps', () => {
  it('trials on the demo: every in-process engine gives the same verdicts, figures of the schema', () => {
    const verdicts: Buffer[] = [];
    for (const engine of ['chain', 'maps', 'bpf']) {
      const file = join(tmp, `demo-${engine}.bin`);
      const r = node('trial.js', ['--workload', 'demo', '--scale', '0', '--engine', engine, '--budget-ms', '20', '--repeats', '2', '--verdicts', file]);
      expect(r.status, r.stderr).toBe(0);
      const t = lastJson(r.stdout);
      expect(t).toMatchObject({ workload: 'demo', engine, nsPerPacket: { n: 2 } });
      expect(t.nsPerPacket.min).toBeLessThanOrEqual(t.nsPerPacket.median);
      expect(t.pps).toBeCloseTo(1e9 / t.nsPerPacket.median);
      expect(t.allow + t.deny).toBe(t.packets);
      expect(t.deny).toBeGreaterThan(0);
      const v = readFileSync(file);
      expect(v.length).toBe(t.packets);
      verdicts.push(v);
      if (engine === 'chain') expect(t.nsPerRule).toBeCloseTo(t.nsPerPacket.median / t.rulesWalkedPerPacket);
    }
    expect(verdicts[1]!.equals(verdicts[0]!)).toBe(true);
    expect(verdicts[2]!.equals(verdicts[0]!)).toBe(true);
  });

  it('a trial with a bad argument fails with one line', () => {
    const r = node('trial.js', ['--workload', 'demo', '--scale', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('trial: --engine is required');
  });

  it('static figures of the demo: sizes, compile time and the denied flows with reasons', () => {
    const r = node('static.js', ['--workload', 'demo', '--scale', '0', '--repeats', '1']);
    expect(r.status, r.stderr).toBe(0);
    const s = lastJson(r.stdout);
    expect(s.chainRules).toBeGreaterThan(10);
    expect(s.chainBytes).toBeGreaterThan(s.chainRules * 20);
    expect(s.mapEntries).toBeGreaterThan(0);
    expect(s.compileMs.n).toBe(1);
    // deny-all + allow-from-client-one: the other clients' connections are denied, client-one's are not
    expect(s.deniedFlows.length).toBeGreaterThan(0);
    for (const f of s.deniedFlows) expect(f.reason).toMatch(/deny/);
    expect(s.deniedFlows.map((f: { flow: string }) => f.flow).join('\n')).not.toContain('10.244.0.11:');
  });

  it('capture reading against libpcap (one run)', () => {
    const r = node('pcap-read.js', ['--runs', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const c = lastJson(r.stdout);
    expect(c.libpcapPps.median).toBeGreaterThan(0);
    expect(c.readPps.median).toBeGreaterThan(0);
    expect(c.verdictPps.n).toBe(1);
    expect(c.skipped).toBe(0);
  }, 300_000);

  it('the runner: a usage error is one line and exit 2', () => {
    const r = node('run.js', ['--only', 'nosuch']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^bench: --only: unknown "nosuch"/);
  });

  it('the runner writes results.json, report.md and report.html for a filtered quick run', () => {
    const r = node('run.js', ['--only', 'chain,maps,static', '--workload', 'demo', '--quick', '--out', join(tmp, 'results')]);
    expect(r.status, r.stderr).toBe(0);
    const dir = /wrote (\S+)\/\{results\.json/.exec(r.stdout)?.[1];
    expect(dir, r.stdout).toBeDefined();
    for (const f of ['results.json', 'report.md', 'report.html']) expect(existsSync(join(dir!, f))).toBe(true);
    const res = JSON.parse(readFileSync(join(dir!, 'results.json'), 'utf8'));
    expect(res.trials.map((t: { engine: string }) => t.engine).sort()).toEqual(['chain', 'maps']);
    expect(res.scales).toHaveLength(1);
    const a = res.scales[0].agreement;
    expect(a.engines).toEqual(['chain', 'maps']);
    expect(a.same[0][1]).toBe(a.packets);
    expect(res.headline.length).toBeGreaterThan(20);
    expect(r.stdout).toContain(res.headline);
    expect(readFileSync(join(tmp, 'results', 'latest', 'results.json'), 'utf8')).toBe(readFileSync(join(dir!, 'results.json'), 'utf8'));
  }, 300_000);
});
