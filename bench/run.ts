/**
 * `npm run bench`: the sweep. Declared once below as a table of steps — workload × scale ×
 * engine trials, the static figures of each workload, the policy-update cost, the worker-pool
 * scaling, capture reading against libpcap and the policy-change diff — each run in a fresh
 * child process. Prints one line per result and writes results/<timestamp>-<host>/
 * (results.json, report.md, report.html), with results/latest pointing at the newest run.
 *
 *   npm run bench -- [--quick] [--only LIST] [--scale LIST] [--workload demo|scale]
 *                    [--before PATH... --after PATH... --pcap FILE]
 *     --only   engines and stages to run: chain,maps,aws,bpf,tc,iptables,nft,static,update,pool,capture,diff
 *     --scale  chain sizes: 10,100,1k,10k,100k (the demo workload has one size of its own)
 *     --quick  two scales, shorter trials (≤ 60 s); the default run takes a few minutes
 *     --out    the folder of runs (default results/): writes <out>/<timestamp>-<host>/ and <out>/latest
 *     --before, --after, --pcap   a policy change of the user's own: the capture replayed under both
 *              cluster states (manifest files or directories, each option repeatable), added to
 *              the demo's two changes in the report's diff section
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { ENGINE_NAMES, type EngineName } from '../src/engines/engine.js';
import { engineAvailability } from '../src/engines/index.js';
import { RESULTS_VERSION, type Agreement, type CaptureReading, type DeniedFlow, type Departure, type Machine, type PolicyDiff, type PoolScaling, type Results, type ScalePoint, type Trial, type UpdateCost } from '../src/report/schema.js';
import { headline, writeReport } from '../src/report/index.js';
import { DEPARTURE_KNOWN, QUICK_SCALES, ROOT, SCALES, workloadTrace, type Workload } from './suite.js';

const STAGES = ['static', 'update', 'pool', 'capture', 'diff'] as const;
type Stage = (typeof STAGES)[number];
/**
 * In process: chain, maps, aws (the VPC CNI agent's semantics, its departures from Kubernetes
 * counted) and bpf; the kernel-side engines are the real-world reference they are compared with.
 */
const SWEEP_ENGINES: readonly EngineName[] = ['chain', 'maps', 'aws', 'bpf', 'tc', 'iptables', 'nft'];
const LINEAR_KERNEL: readonly string[] = ['iptables', 'nft'];

interface Options {
  readonly quick: boolean;
  readonly only?: ReadonlySet<string>;
  readonly scales: readonly number[];
  readonly workloads: readonly Workload[];
  readonly args: readonly string[];
  readonly out: string;
  /** the user's own policy change: child arguments for bench/diff.js (--before … --after … --pcap …) */
  readonly change?: readonly string[];
}

class UsageError extends Error {}

function parseScale(s: string): number {
  const m = /^(\d+)(k?)$/i.exec(s.trim());
  if (!m) throw new UsageError(`--scale: "${s}" is not a size like 100 or 10k`);
  return Number(m[1]) * (m[2] ? 1000 : 1);
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${name}: needs a value`);
    return v;
  };
  for (const a of argv) {
    if (a.startsWith('--') && !['--quick', '--only', '--scale', '--workload', '--out', ...CHANGE_OPTIONS].includes(a)) throw new UsageError(`unknown option ${a}`);
  }
  const quick = argv.includes('--quick');
  const onlyList = value('--only')?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of onlyList ?? []) {
    if (!(ENGINE_NAMES as readonly string[]).includes(o) && !(STAGES as readonly string[]).includes(o)) {
      throw new UsageError(`--only: unknown "${o}" (engines ${SWEEP_ENGINES.join(',')}; stages ${STAGES.join(',')})`);
    }
  }
  const scaleArg = value('--scale');
  const scales = scaleArg ? scaleArg.split(',').map(parseScale) : [...(quick ? QUICK_SCALES : SCALES)];
  const w = value('--workload');
  if (w !== undefined && w !== 'demo' && w !== 'scale') throw new UsageError(`--workload: "${w}" is not demo or scale`);
  const workloads: Workload[] = w ? [w] : scaleArg ? ['scale'] : ['demo', 'scale'];
  const out = value('--out') ?? join(ROOT, 'results');
  const change = parseChange(argv);
  return { quick, only: onlyList ? new Set(onlyList) : undefined, scales, workloads, args: argv, out, ...(change ? { change } : {}) };
}

const CHANGE_OPTIONS = ['--before', '--after', '--pcap'];

/** --before PATH... --after PATH... --pcap FILE, all or none, as arguments for bench/diff.js. */
function parseChange(argv: readonly string[]): string[] | undefined {
  const given = (name: string) => argv.flatMap((a, i) => {
    if (a !== name) return [];
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${name}: needs a value`);
    return [v];
  });
  const [before, after, pcap] = CHANGE_OPTIONS.map(given) as [string[], string[], string[]];
  if (before.length + after.length + pcap.length === 0) return undefined;
  if (before.length === 0 || after.length === 0 || pcap.length !== 1) {
    throw new UsageError('a policy change needs --before PATH and --after PATH (each repeatable) and one --pcap FILE');
  }
  return [...before.flatMap((p) => ['--before', p]), ...after.flatMap((p) => ['--after', p]), '--pcap', pcap[0]!];
}

function machine(): Machine {
  const git = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  let commit = 'unknown';
  try {
    commit = git(['rev-parse', '--short', 'HEAD']) + (git(['status', '--porcelain', '--untracked-files=no']) ? '-dirty' : '');
  } catch { /* not a git checkout */ }
  return { host: hostname(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), kernel: release(), node: process.version, commit };
}

/** Runs bench/<script>.js in a child process; its last stdout line is the JSON result. */
function child<T>(script: string, args: readonly string[], what: string, cwd?: string): T {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', `${script}.js`), ...args], { encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20, ...(cwd ? { cwd } : {}) });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n').pop();
    throw new Error(`${what}: ${why}`);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

const fmtPps = (pps: number) => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} Mpps` : `${(pps / 1e3).toFixed(1)} kpps`);
const fmtNs = (ns: number) => (ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(1)} ns`);

/**
 * The agreement of the engines at one point, from their verdict files (one byte per packet). A
 * difference on a packet where an engine departed from Kubernetes for a known reason (the aws
 * trial's departure file) is counted as explained, not as a disagreement.
 */
function agreement(files: ReadonlyMap<string, string>, departureFiles: ReadonlyMap<string, string>): Agreement {
  const engines = [...files.keys()];
  const v = engines.map((e) => readFileSync(files.get(e)!));
  const d = engines.map((e) => (departureFiles.has(e) ? readFileSync(departureFiles.get(e)!) : undefined));
  const packets = Math.min(...v.map((x) => x.length));
  const same = engines.map(() => engines.map(() => 0));
  const explained = engines.map(() => engines.map(() => 0));
  engines.forEach((_, i) => engines.forEach((__, j) => {
    for (let k = 0; k < packets; k++) {
      if (v[i]![k] === v[j]![k]) same[i]![j]!++;
      else if (d[i]?.[k] === DEPARTURE_KNOWN || d[j]?.[k] === DEPARTURE_KNOWN) explained[i]![j]!++;
    }
  }));
  return { engines, packets, same, ...(d.some((x) => x !== undefined) ? { explained } : {}) };
}

/** "all 3 engines agree on all 112 packets (aws departs from Kubernetes on 15 for known reasons)", or the alarm. */
function agreementLine(a: Agreement, departing: ReadonlySet<string>): string {
  const n = a.engines.length;
  const unexplained = a.engines.some((_, i) => a.engines.some((__, j) => a.same[i]![j]! + (a.explained?.[i]![j] ?? 0) < a.packets));
  if (unexplained) return 'ENGINES DISAGREE (see the matrix in the report)';
  const departed = a.engines.map((e, i) => ({ e, n: departing.has(e) ? Math.max(...(a.explained?.[i] ?? [0])) : 0 })).filter((x) => x.n > 0);
  return `all ${n} engines agree on all ${a.packets} packets${departed.map((x) => ` (${x.e} departs from Kubernetes on ${x.n} for known reasons)`).join('')}`;
}

/** ns per rule walked for iptables and nft: above their own cost at the smallest scale. */
function kernelPerRule(trials: Trial[]): Trial[] {
  return trials.map((t) => {
    if (!LINEAR_KERNEL.includes(t.engine) || t.workload !== 'scale') return t;
    const base = trials.filter((b) => b.engine === t.engine && b.workload === 'scale').sort((a, b) => a.scale - b.scale)[0]!;
    if (base === t || t.rulesWalkedPerPacket === undefined || base.rulesWalkedPerPacket === undefined) return t;
    const rules = t.rulesWalkedPerPacket - base.rulesWalkedPerPacket;
    return rules > 0 ? { ...t, nsPerRule: (t.nsPerPacket.median - base.nsPerPacket.median) / rules } : t;
  });
}

/** The policy-change step: the demo's two changes (when the demo is in the run) and the user's own. */
function diffStep(o: Options, demo: boolean): PolicyDiff[] {
  const args = [...(demo ? ['--demo'] : []), ...(o.change ?? [])];
  if (args.length === 0) {
    console.log('diff   nothing to replay: the demo workload is not in this run and no --before/--after/--pcap was given');
    return [];
  }
  // `npm run bench` runs in the package root: the user's paths are relative to where they typed it
  const diffs = child<PolicyDiff[]>('diff', args, 'diff', process.env['INIT_CWD']);
  for (const d of diffs) {
    const denied = d.changed.filter((c) => c.after === 'deny').length;
    console.log(`diff   ${d.label ?? 'change'}: ${d.changed.length} of ${d.flows} connections change verdict (${denied} newly denied, ${d.changed.length - denied} newly allowed)`);
  }
  return diffs;
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n`);
    return 2;
  }
  const wants = (x: string) => !o.only || o.only.has(x);
  const started = new Date();
  const budget = o.quick ? '150' : '600';
  const repeats = o.quick ? '2' : '3';
  const skipped: { engine: string; reason: string }[] = [];
  const engines = SWEEP_ENGINES.filter((e) => {
    if (!wants(e)) return false;
    const a = engineAvailability(e);
    if (!a.ok) skipped.push({ engine: e, reason: a.reason });
    return a.ok;
  });
  for (const s of skipped) console.log(`left out: ${s.engine}: ${s.reason}`);
  const points: { workload: Workload; scale: number }[] = [
    ...(o.workloads.includes('demo') ? [{ workload: 'demo' as const, scale: 0 }] : []),
    ...(o.workloads.includes('scale') ? o.scales.map((scale) => ({ workload: 'scale' as const, scale })) : []),
  ];
  const tmp = mkdtempSync(join(tmpdir(), 'pfsim-bench-'));
  const trials: Trial[] = [];
  const scales: ScalePoint[] = [];
  const denied: DeniedFlow[] = [];
  const departures: Departure[] = [];
  let diff: PolicyDiff[] | undefined;
  let pool: PoolScaling | undefined;
  let capture: CaptureReading | undefined;
  // a point with no engine, static figures or update cost to measure is not visited (--only diff)
  const visit = engines.length > 0 || wants('static') || wants('update');
  try {
    if (wants('diff') || o.change) {
      // first: it is quick, and a mistake in the user's manifests should not wait for the sweep
      diff = diffStep(o, wants('diff') && o.workloads.includes('demo'));
    }
    for (const p of visit ? points : []) {
      const tag = `${p.workload.padEnd(5)} ${p.workload === 'demo' ? 'demo'.padStart(6) : String(p.scale).padStart(6)}`;
      // write the trace here, once, rather than in the first trial that needs it
      workloadTrace(p.workload, p.scale);
      const base = ['--workload', p.workload, '--scale', String(p.scale)];
      type Static = Omit<ScalePoint, 'agreement' | 'update'> & { deniedFlows: DeniedFlow[] };
      const st = wants('static') || p.workload === 'demo'
        ? child<Static>('static', [...base, '--repeats', o.quick ? '1' : '3'], `static ${tag}`)
        : undefined;
      // the demo's size is its own: report it by its chain's rule count
      const scale = p.workload === 'demo' && st ? st.chainRules : p.scale;
      if (st) {
        denied.push(...st.deniedFlows);
        console.log(`${tag}  compile ${st.compileMs.median.toFixed(1)} ms  chain ${st.chainRules} rules ${(st.chainBytes / 1024).toFixed(0)} KiB  maps ${st.mapEntries} entries ${(st.mapBytes / 1024).toFixed(0)} KiB`);
      }
      const verdicts = new Map<string, string>();
      const departed = new Map<string, string>();
      for (const e of engines) {
        const file = join(tmp, `${p.workload}-${p.scale}-${e}.bin`);
        const depFile = join(tmp, `${p.workload}-${p.scale}-${e}.departures`);
        const extra = e === 'aws' ? ['--departures', depFile] : [];
        const { departures: dep, ...t } = child<Trial & { departures?: Departure[] }>('trial', [...base, '--engine', e, '--budget-ms', budget, '--repeats', repeats, '--verdicts', file, ...extra], `trial ${tag} ${e}`);
        trials.push({ ...t, scale });
        verdicts.set(e, file);
        if (dep) {
          departed.set(e, depFile);
          departures.push(...dep.map((x) => ({ ...x, scale })));
          console.log(`${tag}  ${e.padEnd(8)} departs from Kubernetes on ${dep.reduce((n, x) => n + x.packets, 0)} packets of the whole trace${dep.length ? `: ${dep.map((x) => `${x.reason} ${x.packets}`).join(', ')}` : ''}`);
        }
        const s = t.nsPerPacket;
        console.log(`${tag}  ${e.padEnd(8)} ${fmtPps(t.pps).padStart(11)}  ${fmtNs(s.median).padStart(9)}/pkt (${fmtNs(s.min)}–${fmtNs(s.max)})  ${t.packets} pkts${t.rulesWalkedPerPacket !== undefined ? `  ${t.rulesWalkedPerPacket.toFixed(0)} rules walked/pkt` : ''}`);
      }
      let update: UpdateCost | undefined;
      if (wants('update') && p.workload === 'scale') {
        update = child<UpdateCost>('update-cost', ['--scale', String(p.scale), '--repeats', repeats, '--json'], `update ${tag}`);
        const f = (s?: { median: number }) => (s ? `${s.median.toFixed(2)} ms` : 'n/a');
        console.log(`${tag}  update: iptables-legacy ${f(update.iptablesLegacyMs)}  nft ${f(update.nftMs)}  bpf ${f(update.bpfMs)} (${update.bpfOps} map ops)`);
      }
      if (st) {
        const agree = verdicts.size > 0 ? agreement(verdicts, departed) : { engines: [], packets: 0, same: [] };
        const { deniedFlows: _d, ...sizes } = st;
        scales.push({ ...sizes, scale, agreement: agree, ...(update ? { update } : {}) });
        if (agree.engines.length > 1) console.log(`${tag}  agreement: ${agreementLine(agree, new Set(departed.keys()))}`);
      }
    }
    if (wants('pool')) {
      pool = child<PoolScaling>('pool', ['--json', ...(o.quick ? ['--packets', '200000', '--repeats', '3'] : [])], 'pool');
      console.log(`pool   ${pool.packets} packets through ${pool.engines.join('+')}: ${pool.byWorkers.map((w) => `${w.workers} worker${w.workers > 1 ? 's' : ''} ${fmtPps(w.pps.median)}`).join(', ')}  speed-up ${pool.speedup.toFixed(2)}×`);
    }
    if (wants('capture')) {
      capture = child<CaptureReading>('pcap-read', ['--json', '--runs', o.quick ? '1' : '5'], 'capture');
      console.log(`capture ${capture.packets} packets: libpcap ${fmtPps(capture.libpcapPps.median)}, pfsim read+parse ${fmtPps(capture.readPps.median)} (${(capture.readPps.median / capture.libpcapPps.median).toFixed(2)}× libpcap), read+parse+maps stateful ${fmtPps(capture.verdictPps.median)}`);
    }
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started.getTime()) / 1000;
  const partial: Omit<Results, 'headline'> = {
    version: RESULTS_VERSION, started: started.toISOString(), seconds, machine: machine(), args: o.args, quick: o.quick,
    trials: kernelPerRule(trials), scales, ...(pool ? { pool } : {}), ...(capture ? { capture } : {}), skipped, deniedFlows: denied,
    // present whenever the aws engine ran, empty when it never departed
    ...(trials.some((t) => t.engine === 'aws') ? { departures } : {}),
    ...(diff && diff.length > 0 ? { diff } : {}),
  };
  const results: Results = { ...partial, headline: headline({ ...partial, headline: '' }) };
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const dir = join(o.out, `${stamp}-${hostname()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeReport(dir, [results]);
  const latest = join(o.out, 'latest');
  rmSync(latest, { force: true });
  symlinkSync(basename(dir), latest);
  console.log('');
  console.log(results.headline);
  console.log(`wrote ${dir}/{results.json,report.md,report.html} in ${seconds.toFixed(0)} s`);
  return 0;
}

process.exitCode = await main();
