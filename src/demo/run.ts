/**
 * `pfsim demo`: writes the demo cluster into a directory and shows, per policy set, which clients
 * reach demo-app on port 80 over IPv4 and IPv6, as judged by every engine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterFromText } from '../cluster/load.js';
import type { EngineName } from '../engines/engine.js';
import { judgeFlows } from '../verdict/judge.js';
import { compile } from '../compile/index.js';
import { writeDemoTraces } from '../capture/demo-traces.js';
import { type PacketVerdict, replayCapture } from '../verdict/replay.js';
import { DEMO_APP, DEMO_CLIENTS, DEMO_POLICIES, demoClusterYaml, demoFlows, demoPolicySets } from './cluster.js';

export interface DemoRow {
  readonly set: string;
  /** client name → verdict per family (v4/v6), with agreement across engines */
  readonly reach: Record<string, { v4: 'allow' | 'deny'; v6: 'allow' | 'deny'; agree: boolean; reason: string }>;
}

/** Writes the demo manifests: cluster.yaml and policies/<name>.yaml, plus flows.jsonl. */
export function writeDemo(dir: string): void {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'cluster.yaml'), demoClusterYaml());
  for (const p of DEMO_POLICIES) writeFileSync(join(dir, 'policies', `${p.name}.yaml`), p.yaml);
  writeFileSync(join(dir, 'flows.jsonl'), demoFlows().map((f) => JSON.stringify(f)).join('\n') + '\n');
}

export function runDemo(engines: readonly EngineName[]): DemoRow[] {
  const flows = demoFlows();
  return demoPolicySets().map((set) => {
    const text = [demoClusterYaml(), ...set.policies.map((p) => p.yaml)].join('---\n');
    const verdicts = judgeFlows(clusterFromText(`demo:${set.name}`, text), flows, { engines, stateful: false });
    const reach: DemoRow['reach'] = {};
    DEMO_CLIENTS.forEach((c, i) => {
      const v4 = verdicts[2 * i]!, v6 = verdicts[2 * i + 1]!;
      reach[c.name] = { v4: v4.verdict, v6: v6.verdict, agree: v4.agree && v6.agree, reason: v4.reason };
    });
    return { set: set.name, reach };
  });
}

export function renderDemo(rows: readonly DemoRow[], engines: readonly EngineName[]): string {
  const names = DEMO_CLIENTS.map((c) => c.name);
  const width = Math.max(...rows.map((r) => r.set.length), 10);
  const lines = [
    `Who can reach demo-app (default/${DEMO_APP.name}) on TCP 80 — IPv4 and IPv6, engines: ${engines.join(', ')}`,
    '',
    `${'policy set'.padEnd(width)}  ${names.map((n) => n.padEnd(20)).join('')}`,
  ];
  let disagreements = 0;
  for (const r of rows) {
    const cells = names.map((n) => {
      const c = r.reach[n]!;
      if (!c.agree) disagreements++;
      const mark = c.v4 === c.v6 ? (c.v4 === 'allow' ? 'allow' : 'deny') : `v4 ${c.v4}/v6 ${c.v6}`;
      return `${mark}${c.agree ? '' : ' (engines disagree!)'}`.padEnd(20);
    });
    lines.push(`${r.set.padEnd(width)}  ${cells.join('')}`);
  }
  lines.push('', disagreements === 0 ? `All engines agree on every connection.` : `${disagreements} connections where engines disagree.`);
  return lines.join('\n') + '\n';
}

export interface DemoTraceRow {
  readonly set: string;
  /** client → {connected: first packet (SYN) allowed by every engine, passed packets, total} */
  readonly http: Record<string, { connected: boolean; passed: number; total: number; agree: boolean }>;
  readonly packets: number;
  readonly skipped: number;
  readonly disagreements: number;
}

/**
 * Writes the demo's captures into `dir` and replays the Ethernet one under each policy set,
 * reporting per client whether its curl connections to demo-app (IPv4 and IPv6) got through.
 */
export function runDemoTraces(dir: string, engines: readonly EngineName[]): { file: string; rows: DemoTraceRow[] } {
  const traces = writeDemoTraces(dir);
  const trace = traces.find((t) => t.file.endsWith('.pcap'))!;
  const rows = demoPolicySets().map((set) => {
    const text = [demoClusterYaml(), ...set.policies.map((p) => p.yaml)].join('---\n');
    const plan = compile(clusterFromText(`demo:${set.name}`, text));
    const verdicts: PacketVerdict[] = [];
    const r = replayCapture(plan, trace.file, engines, { packet: (v) => verdicts.push(v) });
    const http: DemoTraceRow['http'] = {};
    for (const c of trace.connections.filter((x) => x.kind === 'http')) {
      const cell = (http[c.client] ??= { connected: true, passed: 0, total: 0, agree: true });
      const first = verdicts[c.packetIndexes[0]!]!;
      cell.connected &&= first.verdict === 'allow';
      for (const i of c.packetIndexes) {
        const v = verdicts[i]!;
        cell.total++;
        if (v.verdict === 'allow') cell.passed++;
        cell.agree &&= v.agree;
      }
    }
    return { set: set.name, http, packets: r.totals.packets, skipped: r.totals.skipped, disagreements: r.disagreements };
  });
  return { file: trace.file, rows };
}

export function renderDemoTraces(file: string, rows: readonly DemoTraceRow[]): string {
  const names = DEMO_CLIENTS.map((c) => c.name);
  const width = Math.max(...rows.map((r) => r.set.length), 10);
  const lines = [
    `Replaying ${file} (curl to demo-app over IPv4 and IPv6, DNS, ping) under each policy set:`,
    `cells: whether the client's curl connections (IPv4 and IPv6) got through: the verdict on their SYNs`,
    '',
    `${'policy set'.padEnd(width)}  ${names.map((n) => n.padEnd(22)).join('')}`,
  ];
  for (const r of rows) {
    const cells = names.map((n) => {
      const c = r.http[n]!;
      return `${c.connected ? 'connected' : 'blocked'}${c.agree ? '' : ' DISAGREE'}`.padEnd(22);
    });
    lines.push(`${r.set.padEnd(width)}  ${cells.join('')}`);
  }
  const dis = rows.reduce((n, r) => n + r.disagreements, 0);
  lines.push('', `${rows[0]?.packets ?? 0} packets per replay, ${rows[0]?.skipped ?? 0} skipped; engines ${dis === 0 ? 'agree on every packet' : `disagree on ${dis} packets`}.`);
  return lines.join('\n') + '\n';
}
