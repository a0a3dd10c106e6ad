/**
 * pfsim doctor: one JSON object with every probe; exit 0 whatever the engines say. As root on a
 * machine with the kernel engines' prerequisites, chain, maps, bpf, iptables and nft are available;
 * as an unprivileged user each kernel engine is explained in one line and the others still run.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_NAMES } from '../src/engines/engine.js';
import { effectiveCapabilities } from '../src/kernel/doctor.js';
import { CLI, pfsim } from './helpers/cli.js';
import { gatedTitle, kernelTestGate, type KernelGate } from './helpers/netns.js';

const kernel = kernelTestGate();

describe('pfsim doctor', () => {
  it('--json prints one object with every field, exit 0', () => {
    const r = pfsim(['doctor', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const d = JSON.parse(lines[0]!) as Record<string, any>;
    expect(typeof d.kernel).toBe('string');
    expect(d.kernel.length).toBeGreaterThan(0);
    expect(d.btf).toEqual({ present: expect.any(Boolean), path: '/sys/kernel/btf/vmlinux' });
    for (const c of ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']) expect(typeof d.capabilities[c]).toBe('boolean');
    expect(d.bpffs).toEqual({ mounted: expect.any(Boolean), path: '/sys/fs/bpf' });
    expect(typeof d.clang.present).toBe('boolean');
    expect(typeof d.libbpf.present).toBe('boolean');
    expect(d.iptables.legacy.tool).toBe('iptables-legacy-restore');
    expect(d.iptables.nft.tool).toBe('iptables-nft-restore');
    expect(Object.keys(d.engines).sort()).toEqual([...ENGINE_NAMES].sort());
    for (const n of ENGINE_NAMES) {
      const a = d.engines[n];
      if (a.available) expect(a).toEqual({ available: true });
      else expect(a).toEqual({ available: false, reason: expect.stringMatching(/\S/) });
    }
    expect(d.engines.chain).toEqual({ available: true });
    expect(d.engines.maps).toEqual({ available: true });
  });

  it('text output names each engine available or unavailable: <reason>', () => {
    const r = pfsim(['doctor']);
    expect(r.code, r.stderr).toBe(0);
    for (const n of ENGINE_NAMES) expect(r.stdout).toMatch(new RegExp(`^engine ${n}\\s+(available|unavailable: \\S.*)$`, 'm'));
    expect(r.stdout).toMatch(/^kernel\s+\S/m);
  });

  it('reads capability bits from CapEff', () => {
    expect(effectiveCapabilities('Name:\tx\nCapEff:\t0000000000001000\n')).toBe(1n << 12n);
    expect(effectiveCapabilities('CapEff:\t000001fffeffffff\n')! >> 39n & 1n).toBe(1n);
    expect(effectiveCapabilities('nothing\n')).toBeNull();
  });

  it.skipIf(!kernel.ok)(gatedTitle('as root here: capabilities held, chain/maps/bpf/iptables/nft available', kernel), () => {
    const d = JSON.parse(pfsim(['doctor', '--json']).stdout) as Record<string, any>;
    expect(d.capabilities).toMatchObject({ CAP_BPF: true, CAP_NET_ADMIN: true, CAP_SYS_ADMIN: true });
    for (const n of ['chain', 'maps', 'bpf', 'iptables', 'nft']) expect(d.engines[n], n).toEqual({ available: true });
    expect(d.iptables.legacy.present && d.iptables.nft.present).toBe(true);
  });
});

// the same machine seen by an unprivileged user: setpriv drops to nobody with no capabilities
const DROP = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
function asNobody(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', [...DROP, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
const nobodyGate: KernelGate = !kernel.ok ? kernel
  : spawnSync('setpriv', [...DROP, 'test', '-r', CLI]).status === 0 ? { ok: true }
    : { ok: false, reason: `user nobody cannot read ${CLI} (a checkout under a private directory)` };

describe('without privileges (user nobody, no capabilities)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pfsim-nobody-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const flows = join(dir, 'flows.jsonl');
  const setup = () => {
    expect(pfsim(['demo', '--out', join(dir, 'demo'), '--traces', join(dir, 'traces'), '--engines', 'chain']).code).toBe(0);
    writeFileSync(flows, '{"src":"10.244.0.11","dst":"10.244.0.10","proto":"TCP","sport":40000,"dport":80}\n');
    chmodSync(dir, 0o755);
    spawnSync('chmod', ['-R', 'a+rX', dir]);
  };

  it.skipIf(!nobodyGate.ok)(gatedTitle('doctor explains each kernel engine in one line; chain and maps stay available', nobodyGate), () => {
    const r = asNobody(['doctor']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^engine chain +available$/m);
    expect(r.stdout).toMatch(/^engine maps +available$/m);
    for (const e of ['bpf', 'iptables', 'nft', 'tc']) expect(r.stdout).toMatch(new RegExp(`^engine ${e} +unavailable: needs root.*\\(uid 65534\\)$`, 'm'));
  });

  it.skipIf(!nobodyGate.ok)(gatedTitle('--engines all judges with the engines left; naming a kernel engine is one line, exit 1', nobodyGate), () => {
    setup();
    const all = asNobody(['verdict', '--cluster', join(dir, 'demo'), '--flows', flows, '--engines', 'all', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(Object.keys(JSON.parse(all.stdout.trim()).engines).sort()).toEqual(['aws', 'chain', 'maps']);
    for (const e of ['bpf', 'iptables', 'nft', 'tc']) {
      const r = asNobody(['verdict', '--cluster', join(dir, 'demo'), '--flows', flows, '--engines', `chain,${e}`]);
      expect(r.code, e).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^pfsim: ${e}: unavailable: needs root[^\\n]*\\n$`));
    }
  });
});
