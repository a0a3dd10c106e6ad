#!/usr/bin/env node
/**
 * pfsim command line. Every failure a user can cause prints one line, `pfsim: <what>`, and
 * exits non-zero (2 for usage, 1 otherwise); `--debug` adds the stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadCluster } from './cluster/load.js';
import { compile } from './compile/index.js';
import { renderIptables } from './compile/iptables.js';
import { renderMaps } from './compile/mapsdump.js';
import { parseEngineList } from './engines/index.js';
import { PfsimError } from './errors.js';
import { readFlows } from './verdict/flows.js';
import { judgePlan } from './verdict/judge.js';
import { renderDemo, runDemo, writeDemo } from './demo/run.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function program(): Command {
  const p = new Command('pfsim')
    .description('Kubernetes NetworkPolicy packet-filter simulator: iptables-style chains vs eBPF maps, verdict per packet')
    .option('--debug', 'print stack traces on errors')
    .showHelpAfterError()
    .exitOverride();

  p.command('demo')
    .description('write the built-in demo cluster and show which clients reach demo-app under each policy set')
    .option('--out <dir>', 'directory to write the demo manifests into', 'demo-cluster')
    .option('--engines <list>', 'engines to judge with: chain,maps or all', 'all')
    .action((o: { out: string; engines: string }) => {
      const engines = parseEngineList(o.engines);
      writeDemo(o.out);
      process.stdout.write(`Demo cluster written to ${o.out}/ (cluster.yaml, policies/*.yaml, flows.jsonl)\n\n`);
      process.stdout.write(renderDemo(runDemo(engines), engines));
    });

  p.command('compile')
    .description('compile the cluster\'s policies and print the iptables ruleset or the eBPF map contents')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeatable; merged)', collect, [])
    .addOption(new Option('--format <format>', 'output format').choices(['iptables', 'ip6tables', 'maps', 'plan']).default('iptables'))
    .action((o: { cluster: string[]; format: string }) => {
      const plan = compile(loadCluster(o.cluster));
      switch (o.format) {
        case 'iptables': process.stdout.write(renderIptables(plan.chain.ipv4)); break;
        case 'ip6tables': process.stdout.write(renderIptables(plan.chain.ipv6)); break;
        case 'maps': process.stdout.write(renderMaps(plan)); break;
        case 'plan': process.stdout.write(JSON.stringify(plan) + '\n'); break;
      }
    });

  p.command('verdict')
    .description('judge flows (first packets of connections) with every engine and compare their verdicts')
    .requiredOption('--cluster <path>', 'manifest file or directory (repeatable; merged)', collect, [])
    .requiredOption('--flows <file>', 'JSON lines: {"src","dst","proto","sport","dport"} per line')
    .option('--engines <list>', 'engines: chain,maps or all', 'all')
    .option('--json', 'print one JSON object per flow')
    .option('--stateful', 'carry conntrack state from line to line (lines are packets in order)')
    .action((o: { cluster: string[]; flows: string; engines: string; json?: boolean; stateful?: boolean }) => {
      const engines = parseEngineList(o.engines);
      const flows = readFlows(o.flows);
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
  return p;
}

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const p = program();
  try {
    await p.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (e) {
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
