/**
 * pfsim doctor: one JSON object with every probe; exit 0 whatever the engines say. As root on a
 * machine with the kernel engines' prerequisites, chain, maps, bpf, iptables and nft are available.
 */
import { describe, expect, it } from 'vitest';
import { ENGINE_NAMES } from '../src/engines/engine.js';
import { effectiveCapabilities } from '../src/kernel/doctor.js';
import { pfsim } from './helpers/cli.js';
import { gatedTitle, kernelTestGate } from './helpers/netns.js';

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
