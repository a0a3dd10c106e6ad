/**
 * The iptables and nft engines against chain and maps: the compiled chains loaded into real
 * netfilter (iptables-legacy and iptables-nft) in a private three-namespace testbed, every
 * verdict observed by whether the frame arrived. Kernel conntrack decides replies in the
 * stateful trace. The host's rulesets, links and namespaces must be the same afterwards.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../src/compile/index.js';
import type { ChainRule } from '../src/compile/plan.js';
import { parseEngineList } from '../src/engines/index.js';
import { IptablesEngine, NftEngine, netfilterAvailability } from '../src/engines/netfilter.js';
import { cleanupResidue } from '../src/kernel/testbed.js';
import { conntrackCases, demoCluster, demoSetCases, largeBatchCase } from './helpers/kernel-demo.js';
import { gatedTitle, kernelTestGate, listNetns, type KernelGate } from './helpers/netns.js';

const kernel = kernelTestGate();
function gateOf(backend: 'legacy' | 'nft'): KernelGate {
  if (!kernel.ok) return kernel;
  const a = netfilterAvailability(backend);
  return a.ok ? a : { ok: false, reason: a.reason };
}
const legacyGate = gateOf('legacy');
const nftGate = gateOf('nft');
const both: KernelGate = !legacyGate.ok ? legacyGate : nftGate;

const OWN_NETNS = new RegExp(`^pfsim-${process.pid}-[0-9a-f]{6}-(src|node|dst)$`);

/** The host's firewall and links, with counters and generated-on comments taken out. */
function hostSnapshot(): string {
  const parts: string[] = [];
  for (const [cmd, args] of [['iptables-save', []], ['ip6tables-save', []], ['nft', ['list', 'ruleset']], ['ip', ['-d', 'link']], ['ip', ['netns', 'list']]] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const text = (r.stdout ?? '')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      // other test files make their own pfsim-test-* namespaces concurrently, and testbeds
      // of their own (pfsim-<their pid>-..., e.g. the tc engine's)
      .filter((l) => !/^pfsim-test-/.test(l))
      .filter((l) => { const m = /^pfsim-(\d+)-[0-9a-f]{6}-(src|node|dst)\b/.exec(l); return !m || Number(m[1]) === process.pid; })
      .join('\n')
      .replace(/\[\d+:\d+\]/g, '[]')
      .replace(/packets \d+ bytes \d+/g, 'packets bytes');
    parts.push(`== ${cmd} ${args.join(' ')} (exit ${r.status})\n${text}`);
  }
  return parts.join('\n');
}

let before: string | undefined;
beforeAll(() => {
  if (both.ok) before = hostSnapshot();
});

describe('iptables and nft engines: registry', () => {
  it.skipIf(!both.ok)(gatedTitle('--engines all lists iptables and nft here', both), () => {
    expect(parseEngineList('all')).toEqual(expect.arrayContaining(['chain', 'maps', 'iptables', 'nft']));
  });
});

demoSetCases('iptables', ['chain', 'maps', 'nft'], both);

describe('iptables and nft engines: kernel conntrack', () => {
  conntrackCases('iptables', (plan, opts) => new IptablesEngine(plan, opts), legacyGate);
  conntrackCases('nft', (plan, opts) => new NftEngine(plan, opts), nftGate);
});

describe('iptables and nft engines: large batches', () => {
  largeBatchCase('iptables', (plan, opts) => new IptablesEngine(plan, opts), legacyGate);
  largeBatchCase('nft', (plan, opts) => new NftEngine(plan, opts), nftGate);
});

describe('iptables and nft engines: cleanup', () => {
  it.skipIf(!legacyGate.ok)(gatedTitle('a ruleset the kernel refuses is PFSIM_ERR_UNSUPPORTED naming the load, and leaves no testbed', legacyGate), async () => {
    const plan = structuredClone(compile(demoCluster([])));
    (plan.chain.ipv4.chains[0]!.rules as unknown as ChainRule[]).push({ target: { kind: 'JUMP', chain: 'PFSIM-NOWHERE' } });
    let err: unknown;
    try {
      new IptablesEngine(plan, { stateful: false }).close();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'PFSIM_ERR_UNSUPPORTED' });
    expect((err as Error).message).toMatch(/^iptables: load ipv4 rules: .*failed: .*PFSIM-NOWHERE/);
    expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
  });

  it.skipIf(!kernel.ok)(gatedTitle('cleanupResidue removes the testbed of a dead pfsim process', kernel), () => {
    // pid numbers above /proc/sys/kernel/pid_max are never alive
    const dead = `pfsim-4194305-abcdef-node`;
    expect(spawnSync('ip', ['netns', 'add', dead]).status).toBe(0);
    spawnSync('ip', ['-n', dead, 'link', 'add', 'pfabcdefi', 'type', 'veth', 'peer', 'name', 'pfabcdefo']);
    const live = `pfsim-${process.pid}-abcdef-node`;
    expect(spawnSync('ip', ['netns', 'add', live]).status).toBe(0);
    try {
      expect(cleanupResidue()).toContain(dead);
      const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      expect(left).not.toContain(dead);
      expect(left).toContain(live); // a live process's testbed is not residue
    } finally {
      spawnSync('ip', ['netns', 'delete', dead]);
      spawnSync('ip', ['netns', 'delete', live]);
    }
  });

  const dist = fileURLToPath(new URL('../dist/src/kernel/testbed.js', import.meta.url));
  const sigGate: KernelGate = !both.ok ? both : existsSync(dist) ? both : { ok: false, reason: 'dist not built (npx tsc -p .)' };
  it.skipIf(!sigGate.ok)(gatedTitle('SIGTERM removes a live testbed', sigGate), async () => {
    const script = `import { Testbed } from ${JSON.stringify(dist)}; const t = new Testbed(); console.log(t.node); setInterval(() => {}, 1000);`;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const node = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()));
      child.once('exit', (c) => reject(new Error(`child exited ${c}`)));
    });
    expect((await listNetns())).toContain(node);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    const prefix = node.replace(/-node$/, '');
    expect((await listNetns()).filter((n) => n.startsWith(prefix))).toEqual([]);
  }, 30_000);
});

afterAll(async () => {
  if (!both.ok || before === undefined) return;
  // every engine above was closed: nothing of ours remains, and the host is as it was
  expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
  expect(hostSnapshot()).toBe(before);
});
