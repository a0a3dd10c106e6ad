/**
 * Compile blow-up on all-to-all clusters (issue 7): N pods, N policies that each select every pod
 * and allow every pod. Resolving per (policy, pod) pair and copying each policy chain per pod made
 * N³ chain rules (N = 250 took over 300 s and 3.8 GB). Policy chains are now shared by the pods
 * they protect and trie contributions grouped per peer set, so the plan grows as N².
 * Checked here without timing: the shape of the plan, verdicts against the reference evaluator,
 * peak memory of a child compile (loose bound), the --max-rules guard, and a closed stdout.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster } from '../src/cluster/model.js';
import { compile } from '../src/compile/index.js';
import type { ChainTable, Plan } from '../src/compile/plan.js';
import { PfsimError } from '../src/errors.js';
import { judgePlan } from '../src/verdict/judge.js';
import type { Flow } from '../src/verdict/types.js';
import { CLI, EXIT_BROKEN_PIPE, pfsimClosingStdout, ROOT } from './helpers/cli.js';
import { scratchDir } from './helpers/tmp.js';
import { referenceVerdict, refPacketOf } from './reference/evaluator.js';

const N = 150;

type PeerShape = 'empty-selector' | 'per-pod-selectors';

const podIp = (i: number): string => `10.1.${i >> 8}.${i & 255}`;
/** every tenth pod is dual-stack, so the IPv6 table is built and shared too */
const podIp6 = (i: number): string | undefined => (i % 10 === 0 ? `fd00:1::${i.toString(16)}` : undefined);
const EXTERNAL = '192.0.2.7';
const NODE_IP = '172.18.0.2';

/**
 * N pods and N ingress policies over all of them; policy i allows TCP port 8080 + i % 3 from
 * every pod (one `podSelector: {}` peer, or one matchLabels peer per pod), policy 0 through the
 * named port `http` (8080 on every pod). One more policy isolates egress: UDP 53 and TCP
 * 8080-8082 to every pod, TCP 443 to everything outside 10.0.0.0/8.
 */
function allToAllText(n: number, shape: PeerShape): string {
  const items: unknown[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a2a', labels: { 'kubernetes.io/metadata.name': 'a2a' } } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
  ];
  for (let i = 0; i < n; i++) {
    const ips = [podIp(i), podIp6(i)].filter((a): a is string => a !== undefined);
    items.push({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${i}`, namespace: 'a2a', labels: { app: 'a2a', pod: `p-${i}` } },
      spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
    });
  }
  const everyPod = shape === 'empty-selector' ? [{ podSelector: {} }]
    : Array.from({ length: n }, (_, j) => ({ podSelector: { matchLabels: { pod: `p-${j}` } } }));
  for (let i = 0; i < n; i++) {
    items.push({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${String(i).padStart(3, '0')}`, namespace: 'a2a' },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: everyPod, ports: [{ protocol: 'TCP', port: i === 0 ? 'http' : 8080 + (i % 3) }] }] },
    });
  }
  items.push({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'egress', namespace: 'a2a' },
    spec: {
      podSelector: {}, policyTypes: ['Egress'], egress: [
        { to: everyPod, ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 8080, endPort: 8082 }] },
        { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ protocol: 'TCP', port: 443 }] },
      ],
    },
  });
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** A fixed spread of packets: pod to pod on allowed and denied ports, to and from outside. */
function probeFlows(n: number): Flow[] {
  const flows: Flow[] = [];
  const ports = [8080, 8081, 8082, 9090, 443];
  for (let k = 0; k < 40; k++) {
    const src = (k * 37 + 11) % n, dst = (k * 53 + 3) % n;
    if (src === dst) continue;
    flows.push({ src: podIp(src), dst: podIp(dst), proto: 'TCP', sport: 40000 + k, dport: ports[k % ports.length]! });
  }
  flows.push(
    { src: podIp(1), dst: podIp(n - 1), proto: 'UDP', sport: 5353, dport: 53 },
    { src: podIp(2), dst: podIp(n - 2), proto: 'UDP', sport: 5353, dport: 54 },
    { src: podIp(3), dst: EXTERNAL, proto: 'TCP', sport: 40100, dport: 443 },
    { src: podIp(3), dst: '10.200.0.1', proto: 'TCP', sport: 40101, dport: 443 },
    { src: EXTERNAL, dst: podIp(4), proto: 'TCP', sport: 40102, dport: 8080 },
    { src: NODE_IP, dst: podIp(5), proto: 'TCP', sport: 40103, dport: 9090 },
    { src: podIp6(10)!, dst: podIp6(20)!, proto: 'TCP', sport: 40104, dport: 8080 },
    { src: podIp6(10)!, dst: podIp6(30)!, proto: 'TCP', sport: 40105, dport: 8083 },
  );
  return flows;
}

const policyChains = (t: ChainTable): number => t.chains.filter((c) => /^PFSIM-P[IO]-\d+$/.test(c.name)).length;
const chainRules = (t: ChainTable): number => t.chains.reduce((s, c) => s + c.rules.length, 0);

describe.each(['empty-selector', 'per-pod-selectors'] as const)(`all-to-all cluster of ${N} pods and ${N} policies (%s peers)`, (shape) => {
  let cluster: Cluster;
  let plan: Plan;
  beforeAll(() => {
    cluster = clusterFromText(`a2a-${shape}.json`, allToAllText(N, shape));
    plan = compile(cluster);
  }, 300_000);

  it('shares one policy chain per policy among the pods it protects: chain rules grow as N², not N³', () => {
    for (const t of [plan.chain.ipv4, plan.chain.ipv6]) {
      // N ingress policy chains and one egress chain, whatever the number of pods
      expect(policyChains(t)).toBe(N + 1);
    }
    // per pod: 2 lines per ingress policy in its endpoint chain; per policy: one line per peer address
    expect(chainRules(plan.chain.ipv4)).toBeLessThan(5 * N * N);
    // rules: each ingress policy for each pod, the egress policy's two for each pod, node allows both ways
    expect(plan.rules.length).toBe(N * N + 2 * N + 2 * N);
    const entries = plan.maps.tries.reduce((s, t) => s + t.entries.length, 0);
    expect(entries).toBeLessThan(4 * N * N);
  });

  it('chain and maps verdicts match the reference evaluator', () => {
    const flows = probeFlows(N);
    const got = judgePlan(plan, flows, { engines: ['chain', 'maps'], stateful: false });
    const want = flows.map((f) => referenceVerdict(cluster, refPacketOf(f)));
    expect(got.map((v) => v.engines['chain'])).toEqual(want);
    expect(got.map((v) => v.engines['maps'])).toEqual(want);
    // the probes reach both answers, so agreement is not trivial
    expect(new Set(want)).toEqual(new Set(['allow', 'deny']));
  });

  it('names the right policy in the reason although the chain is shared', () => {
    const f: Flow = { src: podIp(7), dst: podIp(N - 7), proto: 'TCP', sport: 41000, dport: 8082 };
    const [v] = judgePlan(plan, [f], { engines: ['chain', 'maps'], stateful: false });
    // TCP 8082 is allowed in by the policies with i % 3 = 2 only, the first of them np-002,
    // whose chain pod N - 7 shares with every other pod
    expect(v!.verdict).toBe('allow');
    expect(v!.reason).toBe('allowed by a2a/egress egress, allowed by a2a/np-002 ingress');
  });
});

describe('limits and output', () => {
  const path = scratchDir('pfsim-compile-scale-');

  it('--max-rules: a plan larger than the limit stops with one line naming the cluster and the limit', () => {
    const cluster = clusterFromText('a2a.json', allToAllText(60, 'empty-selector'));
    let err: unknown;
    try { compile(cluster, { maxRules: 2000, name: 'a2a.json' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(PfsimError);
    expect((err as PfsimError).code).toBe('PFSIM_ERR_COMPILE');
    expect((err as PfsimError).message).toMatch(/^a2a\.json: the compiled policies exceed 2000 chain rules and map entries \(\d+ when stopped, building the IPv4 chains\); raise --max-rules/);
    // the same cluster compiles under the default limit
    expect(compile(cluster).rules.length).toBeGreaterThan(0);
  });

  it('--max-rules counts the aws engine\'s map entries too: the least limit that compiles, less one, stops while building them', () => {
    const cluster = clusterFromText('a2a.json', allToAllText(12, 'empty-selector'));
    const fits = (limit: number) => { try { compile(cluster, { maxRules: limit }); return true; } catch { return false; } };
    let lo = 1, hi = 1_000_000;
    while (lo < hi) { const mid = Math.floor((lo + hi) / 2); if (fits(mid)) hi = mid; else lo = mid + 1; }
    const aws = compile(cluster).aws!.tries.reduce((n, t) => n + t.entries.length, 0);
    expect(aws).toBeGreaterThan(0);
    let err: unknown;
    try { compile(cluster, { maxRules: lo - 1, name: 'a2a.json' }); } catch (e) { err = e; }
    expect((err as PfsimError).message).toMatch(new RegExp(`^a2a\\.json: the compiled policies exceed ${lo - 1} chain rules and map entries \\(${lo} when stopped, building the aws map entries\\)`));
    // each aws entry counts once: the chains and the maps alone take exactly that many fewer
    const stage = (limit: number) => { try { compile(cluster, { maxRules: limit }); return 'none'; } catch (e) { return (e as PfsimError).message.replace(/^.*building the (.*)\);.*$/, '$1'); } };
    expect(stage(lo - aws)).toBe('aws map entries');
    expect(stage(lo - aws - 1)).toBe('LPM map entries');
  });

  it('pfsim compile --max-rules prints that line and exits 1; a bad limit is a usage error', () => {
    const file = path('a2a-60.json');
    writeFileSync(file, allToAllText(60, 'empty-selector'));
    const over = spawnSync(process.execPath, [CLI, 'compile', '--cluster', file, '--max-rules', '2000'], { encoding: 'utf8', cwd: ROOT });
    expect(over.status).toBe(1);
    expect(over.stdout).toBe('');
    expect(over.stderr).toMatch(/^pfsim: \S*a2a-60\.json: the compiled policies exceed 2000 chain rules and map entries .*\n$/);
    expect(over.stderr.split('\n')).toHaveLength(2);
    const bad = spawnSync(process.execPath, [CLI, 'compile', '--cluster', file, '--max-rules', 'many'], { encoding: 'utf8', cwd: ROOT });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('pfsim: --max-rules: "many" is not a positive integer\n');
  });

  it(`a child compiling ${N} × ${N} all-to-all and serialising the plan peaks below 1 GB`, () => {
    const file = path(`a2a-${N}.json`);
    writeFileSync(file, allToAllText(N, 'per-pod-selectors'));
    const script = `
      const { loadCluster } = await import(${JSON.stringify(join(ROOT, 'dist/src/cluster/load.js'))});
      const { compile } = await import(${JSON.stringify(join(ROOT, 'dist/src/compile/index.js'))});
      const plan = compile(loadCluster([${JSON.stringify(file)}]));
      const bytes = JSON.stringify(plan).length;
      process.stdout.write(JSON.stringify({ bytes, maxRssKiB: process.resourceUsage().maxRSS }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT, timeout: 290_000 });
    expect(r.stderr).toBe('');
    const { bytes, maxRssKiB } = JSON.parse(r.stdout) as { bytes: number; maxRssKiB: number };
    expect(bytes).toBeGreaterThan(0);
    expect(maxRssKiB).toBeLessThan(1024 * 1024);
  }, 300_000);

  it('pfsim compile | head -c 100: every format ends quietly (status 141, nothing on stderr)', async () => {
    // megabytes of output, far more than a pipe holds: the write meets the closed reader
    const file = path('a2a-pipe.json');
    writeFileSync(file, allToAllText(60, 'empty-selector'));
    for (const format of ['iptables', 'maps', 'plan']) {
      const r = await pfsimClosingStdout(['compile', '--cluster', file, '--format', format]);
      expect(r.chunk.length, format).toBeGreaterThan(0);
      expect(r.stderr, format).toBe('');
      expect(r.signal, format).toBeNull();
      expect(r.code, format).toBe(EXIT_BROKEN_PIPE);
    }
  }, 120_000);
});
