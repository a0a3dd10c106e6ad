/**
 * The live commands on the CLI: `pfsim capture` (an interface into a pcap file) and
 * `pfsim watch` (a dry run of the policies on an interface's traffic). Options are checked
 * here; a bad one is a one-line PfsimError PFSIM_ERR_USAGE naming it.
 */
import { type Command, Option } from 'commander';
import { PfsimError } from '../errors.js';
import { loadCluster } from '../cluster/load.js';
import { compile } from '../compile/index.js';
import { parseEngineList } from '../engines/index.js';
import { runCapture } from './capture.js';
import { DEFAULT_BUFFER_KIB } from './source.js';
import { parseCount, parseDuration } from './stop.js';
import { DEFAULT_TOP, runWatch } from './watch.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** cap hands libpcap the buffer size as a signed 32-bit byte count */
const MAX_BUFFER_KIB = Math.floor((2 ** 31 - 1) / 1024);

function positiveInt(op: string, flag: string, v: string, max: number): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new PfsimError('PFSIM_ERR_USAGE', `${op}: ${flag} ${v}: not an integer in 1..${max}`);
  }
  return n;
}

interface LiveFlags {
  interface: string;
  filter?: string;
  count?: string;
  duration?: string;
  bufferSize: string;
}

function liveOptions(c: Command): Command {
  return c
    .requiredOption('-i, --interface <iface>', 'network interface to capture on (in this process\'s network namespace; "any" for all)')
    .option('--filter <expr>', 'capture filter in pcap-filter syntax, as tcpdump takes it (e.g. "tcp port 80")')
    .option('--count <n>', 'stop after n packets')
    .option('--duration <seconds>', 'stop after this many seconds (decimals allowed); with --count, whichever comes first')
    .option('--buffer-size <KiB>', 'kernel capture buffer in KiB (packets beyond it are dropped by the kernel)', String(DEFAULT_BUFFER_KIB));
}

function stopOptions(op: string, o: LiveFlags) {
  return {
    iface: o.interface,
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    count: parseCount(op, o.count),
    seconds: parseDuration(op, o.duration),
    bufferKiB: positiveInt(op, '--buffer-size', o.bufferSize, MAX_BUFFER_KIB),
  };
}

export function registerLiveCommands(p: Command): void {
  liveOptions(p.command('capture')
    .description('capture live packets on an interface into a pcap file (libpcap through cap); stops on --count, --duration or Ctrl-C'))
    .requiredOption('-w, --write <file>', 'pcap file to write; - writes to standard output')
    .addOption(new Option('--time-stamp-precision <precision>', 'timestamps in the file').choices(['micro', 'nano']).default('micro'))
    .action(async (o: LiveFlags & { write: string; timeStampPrecision: 'micro' | 'nano' }) => {
      await runCapture({ ...stopOptions('capture', o), file: o.write, resolution: o.timeStampPrecision === 'nano' ? 'ns' : 'us' });
    });

  liveOptions(p.command('watch')
    .description('judge live packets with the cluster\'s policies as they arrive: print each new flow an engine denies, a summary on exit'))
    .requiredOption('--cluster <path>', 'manifest file or directory (repeatable; merged)', collect, [])
    .option('--engines <list>', 'engines: chain,maps,aws,bpf,iptables,nft,tc or all', 'chain,maps')
    .option('--json', 'print JSON lines: one {"type":"deny"} per denied flow, then {"type":"summary"}')
    .option('--top <n>', 'denied flows listed in the summary', String(DEFAULT_TOP))
    .action(async (o: LiveFlags & { cluster: string[]; engines: string; json?: boolean; top: string }) => {
      // commander's default [] would let a watch with no cluster at all judge nothing
      if (o.cluster.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', 'watch: --cluster: give at least one manifest file or directory');
      const live = stopOptions('watch', o);
      const top = positiveInt('watch', '--top', o.top, 1_000_000);
      const engines = parseEngineList(o.engines);
      const plan = compile(loadCluster(o.cluster));
      await runWatch(plan, { ...live, engines, json: o.json === true, top });
    });
}
