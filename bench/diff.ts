/**
 * The policy-change step of the sweep, in this (fresh) process: a capture replayed under two
 * cluster states and the connections whose verdict changes (src/verdict/diff.ts), in the
 * results.json shape. With --demo, the demo capture under the demo's two changes (no policy →
 * deny-all, deny-all → deny-all + allow-from-client-one); with --before/--after/--pcap, the
 * user's own two states against their capture. Prints one JSON line: PolicyDiff[].
 *
 *   node dist/bench/diff.js [--demo] [--before PATH]... [--after PATH]... [--pcap FILE] [--engine maps]
 */
import { relative } from 'node:path';
import { loadCluster } from '../src/cluster/load.js';
import { parseEngineList } from '../src/engines/index.js';
import type { PolicyDiff } from '../src/report/schema.js';
import { policyDiff } from '../src/verdict/diff.js';
import { DEMO_CHANGES, demoState, ROOT, workloadTrace } from './suite.js';

/** Every value given for a repeatable option. */
function all(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a !== name) return;
    const v = process.argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name}: needs a value`);
    out.push(v);
  });
  return out;
}

function main(): void {
  const engines = parseEngineList(all('--engine')[0] ?? 'maps');
  const diffs: PolicyDiff[] = [];
  if (process.argv.includes('--demo')) {
    const trace = workloadTrace('demo', 0);
    for (const c of DEMO_CHANGES) {
      const d = policyDiff(demoState(c.before), demoState(c.after), trace, { engines, label: c.label });
      // named as the repository knows it, not by this machine's checkout path
      diffs.push({ ...d, trace: relative(ROOT, trace) });
    }
  }
  const before = all('--before'), after = all('--after'), pcap = all('--pcap');
  if (before.length > 0 || after.length > 0 || pcap.length > 0) {
    if (before.length === 0 || after.length === 0 || pcap.length !== 1) throw new Error('give --before, --after (each repeatable) and one --pcap together');
    const state = (paths: string[]) => ({ paths, cluster: loadCluster(paths) });
    diffs.push(policyDiff(state(before), state(after), pcap[0]!, { engines, label: 'the given change' }));
  }
  process.stdout.write(JSON.stringify(diffs) + '\n');
}

try {
  main();
} catch (e) {
  // the parent names the step ("bench: diff: ...")
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
