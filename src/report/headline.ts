/**
 * The headline: one sentence answering the seed's question — iptables-style linear chains or eBPF
 * map lookups? — with this run's numbers: the throughput ratio at the largest rule count where
 * both kinds ran, how each kind's time per packet grew with the rule count, and how many packets
 * every engine judged the same. When kernel engines could not run, the sentence says so and why,
 * and compares the in-process engines instead.
 */
import * as f from './format.js';
import { agreementPackets, DEPARTING, departures, disagreements, totalAgreement } from './figures.js';
import type { PolicyDiff, Results, Trial } from './schema.js';

/** Which map engine is compared with which linear engines, and what the sentence must say first. */
interface Comparison {
  readonly fast: string;
  readonly slow: readonly string[];
  /** what did not run and how the comparison copes; '' when it is the like-for-like one */
  readonly prefix: string;
}

const PHRASE: Readonly<Record<string, string>> = {
  tc: 'the tc program',
  bpf: 'the BPF program (BPF_PROG_TEST_RUN)',
  maps: 'the native map engine',
  chain: 'the TypeScript chain engine',
};
const phrase = (e: string) => PHRASE[e] ?? f.engineLabel(e);

export function headline(r: Results): string {
  const lead = r.quick ? 'Quick run: ' : '';
  const throughput = throughputClause(r);
  // a run of the policy-change step alone (--only diff) answers with its changes instead
  const diffOnly = r.trials.length === 0 && r.scales.length === 0 && (r.diff?.length ?? 0) > 0;
  const agreement = diffOnly ? diffClause(r.diff!) : agreementClause(r);
  const sentence = `${throughput}; ${agreement}.`;
  return lead + (lead ? sentence.charAt(0).toLowerCase() + sentence.slice(1) : sentence);
}

function diffClause(diffs: readonly PolicyDiff[]): string {
  return `it replayed ${diffs.length === 1 ? 'a policy change' : `${diffs.length} policy changes`} against a capture: ${diffs.map(diffSentence).join('; ')}`;
}

/** "deny-all applied to demo-app: 16 of 24 connections changed verdict, 16 newly denied and 0 newly allowed" */
export function diffSentence(d: PolicyDiff): string {
  const denied = d.changed.filter((c) => c.after === 'deny').length;
  return `${d.label ?? 'the change'}: ${f.int(d.changed.length)} of ${f.int(d.flows)} connections changed verdict, ${f.int(denied)} newly denied and ${f.int(d.changed.length - denied)} newly allowed`;
}

function choose(r: Results): Comparison | undefined {
  const ran = new Set<string>(r.trials.map((t) => t.engine));
  const skipped = (es: readonly string[]) => es.filter((e) => !ran.has(e) && r.skipped.some((s) => s.engine === e));
  const kernelFast = ran.has('tc') ? 'tc' : ran.has('bpf') ? 'bpf' : undefined;
  const kernelSlow = ['iptables', 'nft'].filter((e) => ran.has(e));
  if (kernelFast && kernelSlow.length > 0) {
    // tc is the like-for-like dataplane; the BPF program under test-run stands in when it could not attach
    const missing = skipped(['tc', 'iptables', 'nft']);
    return { fast: kernelFast, slow: kernelSlow, prefix: missing.length ? `${missingSentence(r, missing)}; ` : '' };
  }
  if (ran.has('maps') && ran.has('chain')) {
    const missing = skipped(['tc', 'bpf', 'iptables', 'nft']);
    const kernel = ['tc', 'bpf'].some((e) => ran.has(e));
    const why = missing.length ? missingSentence(r, missing)
      : kernel ? 'iptables-legacy and iptables-nft were not part of this run' : 'no kernel engine was part of this run';
    return { fast: 'maps', slow: ['chain'], prefix: `${why}, so the comparison is in process: ` };
  }
  return undefined;
}

function throughputClause(r: Results): string {
  const c = choose(r);
  if (!c) {
    const ran = [...new Set(r.trials.map((t) => f.engineLabel(t.engine)))];
    return ran.length === 0
      ? 'This run measured no engine throughput'
      : `This run has no linear-chain and map-lookup engine measured side by side (only ${ran.join(', ')} ran${skippedWhy(r, ['iptables', 'nft', 'tc', 'bpf'])})`;
  }
  const at = largestCommonPoint(r.trials, c);
  if (!at) return `${phrase(c.fast)} and ${c.slow.map(f.engineLabel).join(' / ')} never ran at the same rule count in this run`;
  const fast = at.trials.get(c.fast)!;
  const slow = c.slow.filter((e) => at.trials.has(e)).map((e) => at.trials.get(e)!);
  const ratios = slow.map((s, i) => `${f.ratio(fast.pps / s.pps)} ${i === 0 ? 'the packets/s ' : ''}of ${phrase(s.engine)}`);
  const where = at.workload === 'scale' ? `at ${f.scale(at.scale)} rules` : `on the ${at.workload} workload (${f.int(at.scale)} rules)`;
  const numbers = `(${f.pps(fast.pps)} vs ${slow.map((s) => f.pps(s.pps)).join(' and ')})`;
  const growth = growthClause(r.trials, at.workload, fast, slow[0]!);
  const main = `${where} ${phrase(c.fast)} handled ${ratios.join(' and ')} ${numbers}${growth}`;
  return f.capitalise(c.prefix + main);
}

/** The largest (workload 'scale' first) point where the fast engine and a slow one both ran. */
function largestCommonPoint(trials: readonly Trial[], c: Comparison):
  { workload: string; scale: number; trials: Map<string, Trial> } | undefined {
  for (const workload of ['scale', ...new Set(trials.map((t) => t.workload).filter((w) => w !== 'scale'))]) {
    const here = trials.filter((t) => t.workload === workload);
    const scales = [...new Set(here.map((t) => t.scale))].sort((a, b) => b - a);
    for (const scale of scales) {
      const at = new Map(here.filter((t) => t.scale === scale).map((t) => [t.engine as string, t]));
      if (at.has(c.fast) && c.slow.some((e) => at.has(e))) return { workload, scale, trials: at };
    }
  }
  return undefined;
}

/** ", and from 100 to 10k rules the time per packet of iptables-legacy grew 52× and that of the tc program stayed flat (1.0×)" */
function growthClause(trials: readonly Trial[], workload: string, fast: Trial, slow: Trial): string {
  if (workload !== 'scale') return '';
  const smallest = (e: string) => trials.filter((t) => t.workload === workload && t.engine === e).sort((a, b) => a.scale - b.scale)[0];
  const f0 = smallest(fast.engine), s0 = smallest(slow.engine);
  if (!f0 || !s0 || f0.scale !== s0.scale || f0.scale >= fast.scale || s0 === slow) return '';
  const grew = (x: number) => (x >= 1.1 ? `grew ${f.ratio(x)}` : x > 0.9 ? `stayed flat (${f.ratio(x)})` : `fell to ${f.ratio(x)}`);
  const slowGrowth = slow.nsPerPacket.median / s0.nsPerPacket.median;
  const fastGrowth = fast.nsPerPacket.median / f0.nsPerPacket.median;
  return `, and from ${f.scale(f0.scale)} to ${f.scale(fast.scale)} rules the time per packet of ${phrase(slow.engine)} ${grew(slowGrowth)} and that of ${phrase(fast.engine)} ${grew(fastGrowth)}`;
}

function agreementClause(r: Results): string {
  const points = r.scales.filter((p) => p.agreement.engines.length > 1);
  const packets = agreementPackets(points);
  if (packets === 0) return 'verdict agreement was not measured (fewer than two engines judged the same packets)';
  const total = totalAgreement(points);
  const exact = total.engines.filter((e) => !DEPARTING.has(e));
  // a departing engine's unexplained differences are disagreements like any other
  const among = disagreements(total);
  const departed = departures(total);
  const parts: string[] = [];
  if (among.length > 0) {
    const w = among[0]!;
    const more = among.length > 1 ? ` (${among.length} engine pairs disagree in all)` : '';
    parts.push(`the engines did NOT all agree: ${f.engineLabel(w.a)} and ${f.engineLabel(w.b)} gave different verdicts on ${f.int(w.differ)} of ${f.int(w.judged)} packets${more}`);
  } else if (exact.length >= 2) {
    const who = exact.length === 2 ? 'both engines' : `all ${exact.length} engines`;
    parts.push(`all ${f.int(packets)} packets got the same verdict from ${who}`);
  }
  for (const e of total.engines.filter((x) => DEPARTING.has(x))) {
    const mine = departed.find((d) => d.a === e || d.b === e);
    if (mine) parts.push(`${f.engineLabel(e)} departed from the Kubernetes answer on ${f.int(mine.differ)} of ${f.int(mine.judged)} packets`);
    else if (!among.some((d) => d.a === e || d.b === e)) parts.push(`${f.engineLabel(e)} gave the Kubernetes answer on every packet`);
  }
  return parts.join(', while ');
}

/** "tc did not run here (why)", "the kernel engines (tc, bpf, iptables-legacy, iptables-nft) did not run here (why)" */
function missingSentence(r: Results, missing: readonly string[]): string {
  const names = missing.map(f.engineLabel);
  const who = missing.length === KERNEL.length && KERNEL.every((e) => missing.includes(e))
    ? `the kernel engines (${names.join(', ')})`
    : names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `${who} did not run here${skippedWhy(r, missing)}`;
}

const KERNEL: readonly string[] = ['tc', 'bpf', 'iptables', 'nft'];

/** " (needs root (uid 1000))": the reason most of them share, and a pointer when others differ. */
function skippedWhy(r: Results, engines: readonly string[]): string {
  const reasons = new Map<string, number>();
  for (const s of r.skipped.filter((x) => engines.includes(x.engine))) {
    const why = oneLine(s.reason);
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (reasons.size === 0) return '';
  const [common] = [...reasons].sort((a, b) => b[1] - a[1])[0]!;
  return reasons.size === 1 ? ` (${common})` : ` (${common}; other reasons under "Engines left out")`;
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}
