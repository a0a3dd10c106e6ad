/**
 * The bench feeds the report's policy-change and aws sections: `npm run bench -- --only diff` puts
 * the demo's two changes (and the user's own --before/--after/--pcap) into results.json, and an
 * aws trial puts its departures there and has its known departures counted as explained, not as
 * disagreements, in the agreement matrix. Run as the user runs it (dist/bench/run.js, each step a
 * child process); the expected sets come from the demo's addresses and from an independent replay.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConnection, everyConnection } from './helpers/demo-connections.js';
import { workloadCluster, workloadTrace } from '../bench/suite.js';
import { loadCluster } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import { DEMO_CLIENTS } from '../src/demo/cluster.js';
import { writeDemo } from '../src/demo/run.js';
import { loadResults } from '../src/report/load.js';
import type { Results } from '../src/report/schema.js';
import { diffCapture } from '../src/verdict/diff.js';
import { replayCapture } from '../src/verdict/replay.js';
import { ROOT } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'pfsim-bench-diff-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the sweep with `args` into a fresh results folder; returns its results.json and report files. */
function bench(name: string, args: readonly string[], cwd = ROOT): { results: Results; html: string; md: string; stdout: string } {
  const out = join(tmp, name);
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'run.js'), ...args, '--out', out], { encoding: 'utf8', cwd, env: { ...process.env, INIT_CWD: cwd }, timeout: 300_000 });
  expect(r.status, r.stderr).toBe(0);
  const dir = join(out, 'latest');
  return { results: loadResults(dir), html: readFileSync(join(dir, 'report.html'), 'utf8'), md: readFileSync(join(dir, 'report.md'), 'utf8'), stdout: r.stdout };
}

describe('bench: the policy-change step', () => {
  let run: ReturnType<typeof bench>;
  beforeAll(() => { run = bench('demo-diff', ['--only', 'diff', '--workload', 'demo']); });

  it('results.json has the demo\'s two changes: deny-all cuts off all four clients, allow-client-one gives back exactly client-one', () => {
    const [denyAll, clientOne] = run.results.diff ?? [];
    expect(run.results.diff).toHaveLength(2);
    expect(denyAll!.changed.every((c) => c.before === 'allow' && c.after === 'deny')).toBe(true);
    expect(denyAll!.changed.map((c) => clientConnection(c.flow) ?? `other: ${c.flow}`).sort()).toEqual(everyConnection(DEMO_CLIENTS.map((c) => c.name)));
    expect(clientOne!.changed.every((c) => c.before === 'deny' && c.after === 'allow')).toBe(true);
    expect(clientOne!.changed.map((c) => clientConnection(c.flow) ?? `other: ${c.flow}`).sort()).toEqual(everyConnection(['client-one']));
    expect(clientOne!.after).toEqual(['demo cluster', 'demo-app-deny-all', 'demo-app-allow-client-one']);
    expect(run.results.diff!.map((d) => [d.trace, d.engine, d.flows, d.packets])).toEqual([['traces/demo-curl.pcap', 'maps', 24, 112], ['traces/demo-curl.pcap', 'maps', 24, 112]]);
    for (const c of clientOne!.changed) expect(c.afterReason).toBe('allowed by default/demo-app-allow-client-one ingress');
    // nothing but the diff step ran
    expect(run.results.trials).toEqual([]);
    expect(run.results.departures).toBeUndefined();
  });

  it('report.md and report.html show the section, a row per flipped connection', () => {
    const section = run.html.split('<section id="diff">')[1]?.split('</section>')[0];
    expect(section).toBeDefined();
    expect(section).toContain('<h2>Flows a policy change flips</h2>');
    const rows = section!.split('<tbody>').slice(1).map((t) => t.split('</tbody>')[0]!.split('<tr>').length - 1);
    expect(rows).toEqual(run.results.diff!.map((d) => d.changed.length));
    expect(run.md).toContain('Allow-from-client-one added: 4 of 24 connections changed verdict, 0 newly denied and 4 newly allowed.');
    expect(run.stdout).toContain('diff   allow-from-client-one added: 4 of 24 connections change verdict (0 newly denied, 4 newly allowed)');
  });

  it('the user\'s own two states, paths relative to where bench was started, and a bad path is one line', () => {
    const dir = join(tmp, 'user');
    writeDemo(join(dir, 'demo'));
    const before = ['demo/cluster.yaml', 'demo/policies/demo-app-deny-all.yaml', 'demo/policies/demo-app-allow-client-one.yaml'];
    const after = ['demo/cluster.yaml', 'demo/policies/demo-app-deny-all.yaml', 'demo/policies/demo-app-allow-another-ns.yaml'];
    const trace = workloadTrace('demo', 0);
    const args = [...before.flatMap((p) => ['--before', p]), ...after.flatMap((p) => ['--after', p]), '--pcap', trace];
    const { results } = bench('user-diff', ['--only', 'diff', '--workload', 'scale', ...args], dir);
    expect(results.diff).toHaveLength(1);
    const d = results.diff![0]!;
    expect({ before: d.before, after: d.after, trace: d.trace }).toEqual({ before, after, trace });
    // the same change computed here, in process
    const state = (paths: string[]) => ({ paths, cluster: loadCluster(paths.map((p) => join(dir, p))) });
    const want = diffCapture(state(before), state(after), trace, { engines: ['maps'] });
    expect(d.changed.map((c) => [c.flow, c.after])).toEqual(want.changed.map((c) => [c.flow, c.after]));
    expect(d.changed.filter((c) => c.after === 'deny').map((c) => clientConnection(c.flow)).sort()).toEqual(everyConnection(['client-one']));

    const bad = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'run.js'), '--only', 'diff', '--before', 'demo/none.yaml', '--after', before[0]!, '--pcap', trace, '--out', join(tmp, 'bad')],
      { encoding: 'utf8', cwd: dir, env: { ...process.env, INIT_CWD: dir } });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('bench: diff: demo/none.yaml: cannot read: ENOENT\n');
    const half = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'run.js'), '--only', 'diff', '--before', before[0]!, '--pcap', trace], { encoding: 'utf8' });
    expect(half.status).toBe(2);
    expect(half.stderr).toMatch(/^bench: a policy change needs --before PATH and --after PATH/);
  });
});

describe('bench: aws in the trials', () => {
  it('its departures by reason go to results.json; the agreement counts them as explained, not as disagreements', () => {
    const { results, html } = bench('aws', ['--quick', '--only', 'chain,maps,aws', '--workload', 'demo']);
    // an independent replay of the same trace: where aws and maps differ, and why
    const expected = new Map<string, number>();
    let differ = 0;
    replayCapture(compile(workloadCluster('demo', 0)), workloadTrace('demo', 0), ['maps', 'aws'], {
      packet: (v) => {
        if (v.verdict === 'skip' || v.engines['aws'] === v.engines['maps']) return;
        differ++;
        expected.set(v.departure ?? 'none', (expected.get(v.departure ?? 'none') ?? 0) + 1);
      },
    });
    expect(differ).toBeGreaterThan(0);
    expect(expected.has('none')).toBe(false);
    const got = new Map(results.departures!.map((d) => [d.reason, d.packets]));
    expect(got).toEqual(expected);
    const point = results.scales.find((p) => p.workload === 'demo')!;
    for (const d of results.departures!) expect(d.scale).toBe(point.scale);
    const a = point.agreement, aws = a.engines.indexOf('aws'), maps = a.engines.indexOf('maps'), chain = a.engines.indexOf('chain');
    expect(a.packets).toBe(112);
    expect(a.same[aws]![maps]).toBe(a.packets - differ);
    expect(a.explained![aws]![maps]).toBe(differ);
    expect(a.explained![aws]![chain]).toBe(differ);
    expect(a.same[chain]![maps]).toBe(a.packets);
    expect(results.headline).not.toContain('did NOT all agree');
    expect(results.headline).toContain(`aws departed from the Kubernetes answer on ${differ} of 112 packets`);
    expect(html).toContain('<section id="departures">');
    expect(html).toMatch(/<title>aws and maps: same verdict on \d+ of 112 packets \(\d+ differ, all departures for a known reason\)<\/title><rect[^>]*fill="hsl\(40,/);
  });
});
