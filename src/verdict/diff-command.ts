/**
 * `pfsim diff`: the impact of a policy change on a capture (./diff.ts), and the `--aws-mode`
 * option of every command that takes `--engines`.
 */
import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { loadCluster } from '../cluster/load.js';
import { AWS_MODES, type AwsMode, setAwsModeDefault } from '../compile/aws.js';
import { parseEngineList } from '../engines/index.js';
import { PfsimError } from '../errors.js';
import { writeDiffReport } from '../report/render.js';
import { diffCapture, renderDiff, toPolicyDiff } from './diff.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function awsModeOption(): Option {
  return new Option('--aws-mode <mode>', 'aws engine: the VPC CNI agent\'s enforcement mode (a pod no policy selects: standard allows, strict denies)')
    .choices([...AWS_MODES]).default('standard');
}

/**
 * Gives every command that takes --engines the --aws-mode option, and applies it before the
 * command runs: it becomes the mode compile() writes into plan.aws, which every aws engine
 * (also in pool workers) reads.
 */
function addAwsMode(p: Command): void {
  for (const c of p.commands) {
    if (c.options.some((o) => o.long === '--engines') && !c.options.some((o) => o.long === '--aws-mode')) c.addOption(awsModeOption());
  }
  p.hook('preAction', (_program, action) => {
    const mode = action.opts<{ awsMode?: AwsMode }>().awsMode;
    setAwsModeDefault(mode ?? 'standard');
  });
}

interface DiffCliOptions {
  before: string[];
  after: string[];
  pcap: string;
  engines: string;
  json?: boolean;
  out?: string;
  keepGoing?: boolean;
}

/** Registers `pfsim diff` on the program (and --aws-mode on the commands with --engines). */
export function registerDiffCommand(p: Command): void {
  p.command('diff')
    .description('replay a capture under two cluster states and list the connections whose verdict changes (newly denied first)')
    .requiredOption('--before <path>', 'manifest file or directory of the cluster before the change (repeatable; merged)', collect, [])
    .requiredOption('--after <path>', 'manifest file or directory of the cluster after the change (repeatable; merged)', collect, [])
    .requiredOption('--pcap <file>', 'a pcap or pcapng capture')
    .option('--engines <list>', 'engines: the first decides a connection\'s verdict; chain,maps,aws,bpf,iptables,nft,tc or all', 'maps')
    .option('--json', 'print the diff as one JSON object')
    .option('--out <dir>', 'also write report.md and report.html with the diff as a section (the section pfsim report and npm run bench draw)')
    .option('--keep-going', 'a damaged capture is read up to the damage, which counts as a file-error skip, instead of failing')
    .action((o: DiffCliOptions) => {
      if (o.before.length === 0 || o.after.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', 'diff: give --before and --after');
      const engines = parseEngineList(o.engines);
      const before = { paths: o.before, cluster: loadCluster(o.before) };
      const after = { paths: o.after, cluster: loadCluster(o.after) };
      const d = diffCapture(before, after, o.pcap, { engines, reader: { keepGoing: o.keepGoing === true } });
      // the report first: a directory it cannot write fails before anything is printed
      const paths = o.out !== undefined ? writeDiffReport(o.out, [toPolicyDiff(d)]) : undefined;
      if (o.json) writeFileSync(1, JSON.stringify(d) + '\n');
      else process.stdout.write(renderDiff(d) + (paths ? `wrote ${paths.md} and ${paths.html}\n` : ''));
    });
  addAwsMode(p);
}
