#!/usr/bin/env node
/**
 * pfsim command line. Every failure a user can cause prints one line, `pfsim: <what>`, and
 * exits non-zero (2 for usage, 1 otherwise); `--debug` adds the stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadCluster } from './cluster/load.js';
import { compile, parseMaxRules } from './compile/index.js';
import { DEFAULT_MAX_RULES } from './compile/plan.js';
import { renderIptables } from './compile/iptables.js';
import { renderMaps } from './compile/mapsdump.js';
import { parseEngineList } from './engines/index.js';
import { CT_DEFAULT_MAX, parseCtMax } from './engines/conntrack.js';
import { EXIT_BROKEN_PIPE, PfsimError } from './errors.js';
import { readFlows } from './verdict/flows.js';
import { judgePlan } from './verdict/judge.js';
import { renderDemo, renderDemoTraces, runDemo, runDemoTraces, writeDemo } from './demo/run.js';
import { defaultWorkers, parseWorkers, replayPooled } from './pool/run.js';
import { wantProgress } from './pool/progress.js';
import { doctor, renderDoctor } from './kernel/doctor.js';
import { cleanupDeadOwners, renderCleanup } from './kernel/cleanup.js';
import { DEFAULT_MAX_FLOWS, parseMaxFlows, renderSummary } from './verdict/summary.js';
import { registerReportCommand } from './report/command.js';
import { registerDiffCommand } from './verdict/diff-command.js';
import { registerLiveCommands } from './live/command.js';
import { writeFileSync, writeSync } from 'node:fs';
import type { Plan } from './compile/plan.js';
import type { CaptureStop } from './capture/reader.js';
import type { EngineName } from './engines/engine.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function writeJson(file: string, value: unknown): void {
  try {
    writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
  } catch (e) {
    throw new PfsimError('PFSIM_ERR_INPUT_READ', `${file}: cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** keepGoing: the one line saying where a damaged capture stopped being read (the summary counts it). */
function warnStopped(stop: CaptureStop | undefined): void {
  if (stop !== undefined) process.stderr.write(`pfsim: warning: ${stop.message}; reading stopped there, the rest (${stop.bytesUnread} bytes) counts as one file-error skip (--keep-going)\n`);
}

/**
 * Writes all of `text` to `fd`. A pipe's reader may be slower than us: writeSync then writes
 * part of the data (or fails with EAGAIN on a non-blocking pipe), so loop, pausing briefly
 * when the pipe is full instead of spinning.
 */
function writeAll(fd: number, text: string): void {
  const data = Buffer.from(text);
  for (let off = 0; off < data.length;) {
    try {
      off += writeSync(fd, data, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/**
 * One line per packet, streamed in batches so a large capture does not pile up in memory.
 * The pool's workers judge; the lines come back in trace order.
 */
async function verdictCapture(plan: Plan, file: string, engines: readonly EngineName[], json: boolean, keepGoing: boolean, workers: number, ctMax?: number): Promise<void> {
  let buf: string[] = [];
  const flush = () => { if (buf.length) { writeAll(1, buf.join('')); buf = []; } };
  const progress = wantProgress({ json, streamsStdout: true });
  const r = await replayPooled(plan, file, engines, { workers, keepGoing, summary: false, progress, ...(ctMax !== undefined ? { ctMax } : {}), sink: {
    packet: (v) => {
      if (json) buf.push(JSON.stringify(v) + '\n');
      else if (v.verdict === 'skip') buf.push(`${String(v.index).padStart(7)}  skip   ${v.reason}\n`);
      else buf.push(`${String(v.index).padStart(7)}  ${v.verdict.padEnd(5)}  ${`${v.proto} ${v.src}:${v.sport} -> ${v.dst}:${v.dport}`.padEnd(58)} ${Object.entries(v.engines).map(([k, x]) => `${k}=${x}`).join(' ')}${v.agree ? '' : '  DISAGREE'}  ${v.reason}\n`);
      if (buf.length >= 4096) flush();
    },
  } });
  flush();
  warnStopped(r.totals.stopped);
  if (!json) {
    const t = r.totals;
    const skipped = Object.entries(t.skippedBy).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
    process.stdout.write(`packets in ${t.packets} = judged ${t.ok} + skipped ${t.skipped}${skipped ? ` (${skipped})` : ''}; engines ${r.disagreements === 0 ? 'agree on every packet' : `disagree on ${r.disagreements}`}\n`);
  }
}

const MAX_RULES_HELP = `chain rules plus map entries (maps and aws) the compiled policies may make; beyond, stop with one line instead of using up memory (default ${DEFAULT_MAX_RULES})`;

/** Loads and compiles the cluster under --max-rules, naming its manifests if it is too large. */
function compileWithLimit(paths: readonly string[], maxRules: string | undefined): Plan {
  const limit = maxRules === undefined ? DEFAULT_MAX_RULES : parseMaxRules(maxRules);
  return compile(loadCluster([...paths]), { maxRules: limit, name: paths.join(', ') });
}

function program(): Command {
  const p = new Command('pfsim')
    .description('Kubernetes NetworkPolicy packet-filter simulator: iptables-style chains vs eBPF maps, verdict per packet')
    .option('--debug', 'print stack traces on errors')
    .showHelpAfterError()
    .exitOverride();

  p.command('demo')
    .description('write the built-in demo cluster and show which clients reach demo-app under each policy set')
    .option('--out <dir>', 'directory to write the demo manifests into', 'demo-cluster')
    .option('--traces <dir>', 'directory to write the demo captures into', 'traces')
    .option('--engines <list>', 'engines to judge with: chain,maps,aws,bpf,iptables,nft,tc or all', 'all')
    .action((o: { out: string; traces: string; engines: string }) => {
      const engines = parseEngineList(o.engines);
      writeDemo(o.out);
      process.stdout.write(`Demo cluster written to ${o.out}/ (cluster.yaml, policies/*.yaml, flows.jsonl)\n\n`);
      process.stdout.write(renderDemo(runDemo(engines), engines));
      const t = runDemoTraces(o.traces, engines);
      process.stdout.write('\n' + renderDemoTraces(t.file, t.rows));
    });

  p.command('compile')
    .description('compile the cluster\'s policies and print the iptables ruleset or the eBPF map contents')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeatable; merged)', collect, [])
    .addOption(new Option('--format <format>', 'output format').choices(['iptables', 'ip6tables', 'maps', 'plan']).default('iptables'))
    .option('--max-rules <n>', MAX_RULES_HELP)
    .action((o: { cluster: string[]; format: string; maxRules?: string }) => {
      const plan = compileWithLimit(o.cluster, o.maxRules);
      switch (o.format) {
        case 'iptables': process.stdout.write(renderIptables(plan.chain.ipv4)); break;
        case 'ip6tables': process.stdout.write(renderIptables(plan.chain.ipv6)); break;
        case 'maps': process.stdout.write(renderMaps(plan)); break;
        case 'plan': process.stdout.write(JSON.stringify(plan) + '\n'); break;
      }
    });

  p.command('verdict')
    .description('judge flows (first packets of connections) or every packet of a capture with every engine and compare')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeatable; merged)', collect, [])
    .option('--flows <file>', 'JSON lines: {"src","dst","proto","sport","dport"} per line')
    .option('--pcap <file>', 'a pcap or pcapng capture: one verdict per packet, conntrack carried')
    .option('--engines <list>', 'engines: chain,maps,aws,bpf,iptables,nft,tc or all', 'all')
    .option('--json', 'print one JSON object per flow or packet')
    .option('--stateful', 'flows only: carry conntrack state from line to line (lines are packets in order)')
    .option('--keep-going', 'pcap only: a damaged capture is read up to the damage, which counts as a file-error skip, instead of failing')
    .option('--workers <n>', `pcap only: judge in N worker threads, 1 on the main thread (default: one per core, ${defaultWorkers()} here)`)
    .option('--ct-max <n>', `pcap only: conntrack entries at most, as nf_conntrack_max (default ${CT_DEFAULT_MAX}); split among the workers, so --workers 1 for one table exactly as the kernel's`)
    .action(async (o: { cluster: string[]; flows?: string; pcap?: string; engines: string; json?: boolean; stateful?: boolean; keepGoing?: boolean; workers?: string; ctMax?: string }) => {
      const engines = parseEngineList(o.engines);
      if ((o.flows === undefined) === (o.pcap === undefined)) throw new PfsimError('PFSIM_ERR_USAGE', 'verdict: give exactly one of --flows or --pcap');
      if (o.keepGoing && o.pcap === undefined) throw new PfsimError('PFSIM_ERR_USAGE', 'verdict: --keep-going applies to --pcap');
      if (o.workers !== undefined && o.pcap === undefined) throw new PfsimError('PFSIM_ERR_USAGE', 'verdict: --workers applies to --pcap');
      if (o.ctMax !== undefined && o.pcap === undefined) throw new PfsimError('PFSIM_ERR_USAGE', 'verdict: --ct-max applies to --pcap');
      const ctMax = o.ctMax === undefined ? undefined : parseCtMax(o.ctMax);
      if (o.pcap !== undefined) {
        const workers = o.workers === undefined ? defaultWorkers() : parseWorkers(o.workers);
        const plan = compile(loadCluster(o.cluster));
        await verdictCapture(plan, o.pcap, engines, o.json === true, o.keepGoing === true, workers, ctMax);
        return;
      }
      const flows = readFlows(o.flows!);
      const plan = compile(loadCluster(o.cluster));
      const verdicts = judgePlan(plan, flows, { engines, stateful: o.stateful === true });
      if (o.json) {
        process.stdout.write(verdicts.map((v) => JSON.stringify(v)).join('\n') + (verdicts.length ? '\n' : ''));
        return;
      }
      const lines = verdicts.map((v) => {
        const f = flows[v.index]!;
        const flow = `${f.proto.toUpperCase()} ${f.src}:${f.sport ?? 0} -> ${f.dst}:${f.dport ?? 0}`;
        const eng = Object.entries(v.engines).map(([k, x]) => `${k}=${x}`).join(' ');
        return `${String(v.index).padStart(4)}  ${v.verdict.padEnd(5)}  ${flow.padEnd(58)} ${eng}${v.agree ? '' : '  DISAGREE'}  ${v.reason}`;
      });
      const disagree = verdicts.filter((v) => !v.agree).length;
      lines.push(`${verdicts.length} flows: ${verdicts.filter((v) => v.verdict === 'allow').length} allowed, ${verdicts.filter((v) => v.verdict === 'deny').length} denied; engines ${disagree === 0 ? 'agree on all' : `disagree on ${disagree}`}`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  p.command('replay')
    .description('replay a capture through the engines and summarise per connection (disagreements first)')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeatable; merged)', collect, [])
    .requiredOption('--pcap <file>', 'a pcap or pcapng capture')
    .option('--engines <list>', 'engines: chain,maps,aws,bpf,iptables,nft,tc or all', 'all')
    .option('--json <file>', 'also write the summary as JSON to this file')
    .option('--keep-going', 'a damaged capture is read up to the damage, which counts as a file-error skip, instead of failing')
    .option('--workers <n>', `judge in N worker threads, 1 on the main thread (default: one per core, ${defaultWorkers()} here)`)
    .option('--max-flows <n>', `list the first N connections one by one and add up the packets of later ones, so memory stays bounded on any capture (default ${DEFAULT_MAX_FLOWS})`)
    .option('--ct-max <n>', `conntrack entries at most, as nf_conntrack_max (default ${CT_DEFAULT_MAX}); split among the workers, so --workers 1 for one table exactly as the kernel's`)
    .option('--max-rules <n>', MAX_RULES_HELP)
    .action(async (o: { cluster: string[]; pcap: string; engines: string; json?: string; keepGoing?: boolean; workers?: string; maxFlows?: string; ctMax?: string; maxRules?: string }) => {
      const engines = parseEngineList(o.engines);
      const workers = o.workers === undefined ? defaultWorkers() : parseWorkers(o.workers);
      const maxFlows = o.maxFlows === undefined ? DEFAULT_MAX_FLOWS : parseMaxFlows(o.maxFlows);
      const ctMax = o.ctMax === undefined ? undefined : parseCtMax(o.ctMax);
      const plan = compileWithLimit(o.cluster, o.maxRules);
      // the workers count connections; the main thread only reads and merges
      const r = await replayPooled(plan, o.pcap, engines, {
        workers, keepGoing: o.keepGoing === true, progress: wantProgress({ json: o.json !== undefined, streamsStdout: false }), maxFlows,
        ...(ctMax !== undefined ? { ctMax } : {}),
      });
      warnStopped(r.totals.stopped);
      const summary = r.summary!;
      process.stdout.write(renderSummary(summary, engines));
      if (o.json) writeJson(o.json, { capture: o.pcap, engines, ...summary });
    });
  p.command('doctor')
    .description('report what this machine offers the kernel engines (kernel, BTF, capabilities, tools) and which engines can run')
    .option('--json', 'print one JSON object')
    .action((o: { json?: boolean }) => {
      const r = doctor();
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : renderDoctor(r));
    });

  p.command('cleanup')
    .description('remove network namespaces and bpffs pins left by pfsim processes that no longer exist (never a live one\'s)')
    .action(() => {
      const r = cleanupDeadOwners();
      process.stdout.write(renderCleanup(r));
      if (r.failed.length > 0) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `cleanup: ${r.failed.length} object(s) could not be removed`);
    });
  registerReportCommand(p);
  registerLiveCommands(p);
  registerDiffCommand(p);
  return p;
}

function brokenPipe(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const p = program();
  // writes through process.stdout fail later, as an 'error' event: the same quiet stop; what
  // the command still does (closing a pool, a testbed) runs to its end
  process.stdout.on('error', (e) => {
    if (!brokenPipe(e)) throw e;
    process.exitCode = EXIT_BROKEN_PIPE;
  });
  try {
    await p.parseAsync(argv as string[], { from: 'user' });
    return process.exitCode === EXIT_BROKEN_PIPE ? EXIT_BROKEN_PIPE : 0;
  } catch (e) {
    if (brokenPipe(e)) return EXIT_BROKEN_PIPE;
    if (e instanceof CommanderError) {
      // commander already printed its message (or the help)
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof PfsimError) {
      process.stderr.write(`pfsim: ${e.message}\n`);
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      return e.code === 'PFSIM_ERR_USAGE' ? 2 : 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`pfsim: internal error: ${msg.split('\n')[0]}${debug ? '' : ' (run with --debug for details)'}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
