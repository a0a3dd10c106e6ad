/**
 * pfsim diff: the demo capture replayed under two cluster states. Applying deny-all to demo-app
 * cuts off all four clients; adding the allow-from-client-one policy gives back exactly
 * client-one. Checked through diffCapture, its results.json shape and the CLI.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConnection, everyConnection } from './helpers/demo-connections.js';
import { writeDemoTraces } from '../src/capture/demo-traces.js';
import { loadCluster } from '../src/cluster/load.js';
import { DEMO_APP, DEMO_CLIENTS } from '../src/demo/cluster.js';
import { writeDemo } from '../src/demo/run.js';
import { type CaptureDiff, type ClusterState, diffCapture, policyDiff } from '../src/verdict/diff.js';
import type { EngineName } from '../src/engines/engine.js';
import { pfsim } from './helpers/cli.js';

let dir: string;
let trace: string;
let paths: { base: string; denyAll: string; clientOne: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pfsim-diff-'));
  writeDemo(join(dir, 'demo'));
  trace = writeDemoTraces(join(dir, 'traces')).find((t) => t.file.endsWith('.pcap'))!.file;
  const p = (name: string) => join(dir, 'demo', 'policies', `${name}.yaml`);
  paths = { base: join(dir, 'demo', 'cluster.yaml'), denyAll: p('demo-app-deny-all'), clientOne: p('demo-app-allow-client-one') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const state = (...files: string[]): ClusterState => ({ paths: files, cluster: loadCluster(files) });

const changedConnections = (d: CaptureDiff, after: 'allow' | 'deny') =>
  d.changed.filter((c) => c.after === after).map((c) => clientConnection(c.flow) ?? `other: ${c.flow}`).sort();

describe('pfsim diff on the demo capture', () => {
  it('applying deny-all to demo-app cuts off all four clients, and nothing else changes', () => {
    const d = diffCapture(state(paths.base), state(paths.base, paths.denyAll), trace, { engines: ['maps', 'chain'] });
    expect(changedConnections(d, 'deny')).toEqual(everyConnection(DEMO_CLIENTS.map((c) => c.name)));
    expect(d.newlyAllowed).toBe(0);
    expect(d.newlyDenied).toBe(16);
    expect(d.changed.every((c) => c.engines['chain']!.before === c.before && c.engines['chain']!.after === c.after)).toBe(true);
    // the policy responsible on each side
    for (const c of d.changed) {
      expect(c.beforeReason).toBe('not isolated');
      expect(c.afterReason).toBe(`default deny ingress default/${DEMO_APP.name} (isolated by default/demo-app-deny-all)`);
      expect(c.allowedAfter).toBeLessThan(c.allowedBefore);
    }
    expect({ flows: d.flows, packets: d.packets, judged: d.judged, skipped: d.skipped }).toEqual({ flows: 24, packets: 112, judged: 112, skipped: 0 });
  });

  it('adding allow-from-client-one gives back exactly client-one', () => {
    const d = diffCapture(state(paths.base, paths.denyAll), state(paths.base, paths.denyAll, paths.clientOne), trace, { engines: ['maps'] });
    expect(changedConnections(d, 'allow')).toEqual(everyConnection(['client-one']));
    expect(d.newlyDenied).toBe(0);
    for (const c of d.changed) {
      expect(c.beforeReason).toMatch(/^default deny ingress default\/demo-app-.* \(isolated by default\/demo-app-deny-all\)$/);
      expect(c.afterReason).toBe('allowed by default/demo-app-allow-client-one ingress');
      expect(c.allowedAfter).toBe(c.packets);
    }
  });

  it('newly denied come first; each state replays from a fresh start', () => {
    // allow-client-one replaced by allow-another-ns: client-one loses, the another-ns clients gain
    const anotherNs = join(dir, 'demo', 'policies', 'demo-app-allow-another-ns.yaml');
    const d = diffCapture(state(paths.base, paths.denyAll, paths.clientOne), state(paths.base, paths.denyAll, anotherNs), trace, { engines: ['maps'] });
    expect(d.changed.map((c) => c.after)).toEqual([...Array<string>(4).fill('deny'), ...Array<string>(8).fill('allow')]);
    expect(changedConnections(d, 'deny')).toEqual(everyConnection(['client-one']));
    expect(changedConnections(d, 'allow')).toEqual(everyConnection(['another-client-one', 'another-client-two']));
    // the same state on both sides changes nothing: the second replay did not inherit the first's conntrack
    const same = diffCapture(state(paths.base, paths.denyAll), state(paths.base, paths.denyAll), trace, { engines: ['maps'] });
    expect(same.changed).toEqual([]);
  });

  it('the aws engine as the judge: its IPv6 programs keep letting ICMPv6 through under deny-all', () => {
    const engines: EngineName[] = ['aws', 'maps'];
    const d = diffCapture(state(paths.base), state(paths.base, paths.denyAll), trace, { engines });
    expect(changedConnections(d, 'deny')).toEqual(everyConnection(DEMO_CLIENTS.map((c) => c.name)).filter((c) => !c.includes('ICMPv6')));
  });

  it('policyDiff gives the results.json shape the report reads', () => {
    const p = policyDiff(state(paths.base, paths.denyAll), state(paths.base, paths.denyAll, paths.clientOne), trace, { engines: ['maps', 'chain'], label: 'client-one allowed' });
    expect(Object.keys(p).sort()).toEqual(['after', 'before', 'changed', 'engine', 'flows', 'label', 'packets', 'trace']);
    expect({ label: p.label, engine: p.engine, flows: p.flows, packets: p.packets }).toEqual({ label: 'client-one allowed', engine: 'maps', flows: 24, packets: 112 });
    expect(p.changed).toHaveLength(4);
    expect(Object.keys(p.changed[0]!).sort()).toEqual(['after', 'afterReason', 'before', 'beforeReason', 'flow', 'packets']);
    expect(p.before).toEqual([paths.base, paths.denyAll]);
  });
});

describe('pfsim diff command', () => {
  it('prints newly denied, then newly allowed, and the totals', () => {
    const r = pfsim(['diff', '--before', paths.base, '--after', paths.base, '--after', paths.denyAll, '--pcap', trace]);
    expect(r.code, r.stderr).toBe(0);
    const denied = r.stdout.indexOf('newly denied: 16 connections'), allowed = r.stdout.indexOf('newly allowed: 0 connections');
    expect(denied).toBeGreaterThan(0);
    expect(allowed).toBeGreaterThan(denied);
    expect(r.stdout).toMatch(/changed 16: 16 newly denied, 0 newly allowed\n$/);
  });

  it('--json prints the diff as one object, the same as diffCapture', () => {
    const r = pfsim(['diff', '--before', paths.base, '--before', paths.denyAll, '--after', paths.base, '--after', paths.denyAll, '--after', paths.clientOne, '--pcap', trace, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const want = diffCapture(state(paths.base, paths.denyAll), state(paths.base, paths.denyAll, paths.clientOne), trace, { engines: ['maps'] });
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(want)));
  });

  it('--out writes report.md and report.html with the diff section: exactly client-one given back', () => {
    const out = join(dir, 'report-out');
    const r = pfsim(['diff', '--before', paths.base, '--before', paths.denyAll, '--after', paths.base, '--after', paths.denyAll, '--after', paths.clientOne, '--pcap', trace, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(out, 'report.md')} and ${join(out, 'report.html')}\n`);
    const html = readFileSync(join(out, 'report.html'), 'utf8'), md = readFileSync(join(out, 'report.md'), 'utf8');
    const section = html.split('<section id="diff">')[1]!.split('</section>')[0]!;
    const rows = [...section.matchAll(/<tr><td>([^<]*)<\/td>/g)].map((m) => clientConnection(m[1]!.replace(/&gt;/g, '>')) ?? `other: ${m[1]}`);
    expect(rows.sort()).toEqual(everyConnection(['client-one']));
    expect(md).toContain('> **The change: 4 of 24 connections changed verdict, 0 newly denied and 4 newly allowed.**');
    // with --json, stdout stays one JSON object
    const j = pfsim(['diff', '--before', paths.base, '--after', paths.base, '--after', paths.denyAll, '--pcap', trace, '--json', '--out', join(dir, 'json-out')]);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout).newlyDenied).toBe(16);
    expect(readFileSync(join(dir, 'json-out', 'report.md'), 'utf8')).toContain('16 newly denied');
  });

  it('every command that takes --engines lists aws among them in its help', () => {
    for (const cmd of ['demo', 'verdict', 'replay', 'diff', 'watch']) {
      const r = pfsim([cmd, '--help']);
      expect(r.code, r.stderr).toBe(0);
      const line = r.stdout.split('--engines <list>')[1]!.replace(/\s+/g, ' ');
      expect(line, cmd).toMatch(/chain,maps,aws,bpf,iptables,nft,tc or all/);
    }
  });

  it('bad use is one line and exit 2; a missing capture is one line and exit 1', () => {
    const missing = pfsim(['diff', '--after', paths.base, '--pcap', trace]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--before/);
    const engines = pfsim(['diff', '--before', paths.base, '--after', paths.base, '--pcap', trace, '--engines', 'nope']);
    expect(engines.code).toBe(2);
    expect(engines.stderr.trim()).toMatch(/^pfsim: --engines: unknown engine "nope"/);
    const nofile = pfsim(['diff', '--before', paths.base, '--after', paths.base, '--pcap', join(dir, 'none.pcap')]);
    expect(nofile.code).toBe(1);
    expect(nofile.stderr.trim().split('\n')).toHaveLength(1);
    expect(nofile.stderr).toMatch(/^pfsim: .*none\.pcap: cannot open/);
  });
});
