/**
 * The tc engine: the tc programs attached for real in a private testbed (tc_from_pod on the
 * ingress hook of the source side's node veth, tc_to_pod on the egress hook of the destination
 * side's), every verdict observed by whether the frame arrived. Against chain, maps and bpf on
 * the demo; the programs' own conntrack across both hooks; nothing left behind after close.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../src/compile/index.js';
import { ENGINE_NAMES, OUT_WORDS } from '../src/engines/engine.js';
import { parseEngineList } from '../src/engines/index.js';
import { packetBatch, writePacket } from '../src/engines/packet.js';
import { TcEngine, tcAvailability } from '../src/engines/tc.js';
import { liveTestbedNamespaces } from '../src/kernel/testbed.js';
import { classifyAll, conntrackCases, conntrackPlan, demoCluster, demoSetCases, largeBatchCase, statefulTrace } from './helpers/kernel-demo.js';
import { gatedTitle, kernelTestGate, listNetns, type KernelGate } from './helpers/netns.js';

const kernel = kernelTestGate();
const gate: KernelGate = !kernel.ok ? kernel : (() => {
  const a = tcAvailability();
  return a.ok ? a : { ok: false, reason: a.reason };
})();

const OWN_NETNS = new RegExp(`^pfsim-${process.pid}-[0-9a-f]{6}-(src|node|dst)$`);

/** sched_cls programs of the tc engine (tc_from_pod, tc_to_pod) the kernel still holds */
function tcPrograms(): string[] {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bpftool prog show: exit ${r.status}: ${r.stderr}`);
  const progs = JSON.parse(r.stdout) as { id: number; type: string; name?: string }[];
  return progs.filter((p) => p.type === 'sched_cls' && (p.name === 'tc_from_pod' || p.name === 'tc_to_pod')).map((p) => `${p.id} ${p.name}`);
}

/** the kernel frees a program after an RCU grace period: wait a little for it */
async function tcProgramsSettled(): Promise<string[]> {
  let left = tcPrograms();
  for (let i = 0; i < 40 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    left = tcPrograms();
  }
  return left;
}

describe('tc engine: registry', () => {
  it('is a known engine name', () => {
    expect(ENGINE_NAMES).toContain('tc');
  });

  it.skipIf(!gate.ok)(gatedTitle('--engines all lists tc here', gate), () => {
    expect(parseEngineList('all')).toContain('tc');
  });
});

demoSetCases('tc', ['chain', 'maps', 'bpf'], gate);

describe('tc engine: conntrack across both hooks', () => {
  conntrackCases('tc', (plan, opts) => new TcEngine(plan, opts), gate);

  // egress isolation of the client: the from-pod hook must judge the client's SYN, and an
  // allowed egress must not let the to-pod hook wave a NEW connection through
  it.skipIf(!gate.ok)(gatedTitle('an egress-allowed first packet is still judged by ingress at the to-pod hook', gate), () => {
    const trace = statefulTrace('v4');
    const pkts = packetBatch(2);
    writePacket(pkts, 0, trace[4]!.pkt); // client-two SYN: egress not isolated, ingress denies
    writePacket(pkts, 1, trace[4]!.pkt); // again: nothing was tracked by the first
    const tc = new TcEngine(conntrackPlan(), { stateful: true });
    try {
      expect(classifyAll(tc, pkts, 1)).toEqual(['deny']);
      expect(classifyAll(tc, pkts.subarray(40), 1)).toEqual(['deny']);
    } finally {
      tc.close();
    }
  }, 30_000);
});

describe('tc engine: large batches', () => {
  largeBatchCase('tc', (plan, opts) => new TcEngine(plan, opts), gate);
});

describe('tc engine: cleanup', () => {
  it.skipIf(!gate.ok)(gatedTitle('after close: no testbed namespace, no clsact in the host, no tc program in the kernel', gate), async () => {
    const plan = compile(demoCluster([]));
    const tc = new TcEngine(plan, { stateful: true });
    const mine = liveTestbedNamespaces();
    expect(mine.length).toBeGreaterThanOrEqual(3);
    const node = mine.find((n) => n.endsWith('-node'))!;
    // attached in the node namespace, on the two veth ends only
    const q = spawnSync('tc', ['-n', node, 'qdisc', 'show'], { encoding: 'utf8' });
    expect(q.stdout.match(/qdisc clsact/g)?.length).toBe(2);
    expect((await tcProgramsSettled()).length).toBeGreaterThanOrEqual(2);
    tc.close();
    tc.close(); // idempotent
    expect(liveTestbedNamespaces()).toEqual([]);
    expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
    const host = spawnSync('tc', ['qdisc', 'show'], { encoding: 'utf8' });
    expect(host.status).toBe(0);
    expect(host.stdout).not.toMatch(/clsact/);
    expect(await tcProgramsSettled()).toEqual([]);
  }, 30_000);

  it.skipIf(!gate.ok)(gatedTitle('a closed engine refuses to classify', gate), () => {
    const tc = new TcEngine(compile(demoCluster([])), { stateful: false });
    tc.close();
    expect(() => tc.classify(packetBatch(1), 1, new Uint32Array(OUT_WORDS))).toThrow(/tc: engine is closed/);
  }, 30_000);
});

afterAll(async () => {
  if (!gate.ok) return;
  expect((await listNetns()).filter((n) => OWN_NETNS.test(n))).toEqual([]);
  expect(await tcProgramsSettled()).toEqual([]);
});
