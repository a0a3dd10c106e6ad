/**
 * results.json: what one `npm run bench` measured, written by bench/run.ts and read by
 * `pfsim report` (src/report/). Every figure a report shows comes from here, so a report can be
 * re-rendered, or several runs compared, long after the machine is gone.
 *
 * Units are in the field names (Ns, Ms, Bytes, Pps). A figure that could not be measured on the
 * run's machine is absent, never zero; why it is absent is in `skipped`.
 */

export const RESULTS_VERSION = 1;

/** Engines a trial can run, plus the libpcap read loop (the capture-reading baseline). */
export const TRIAL_ENGINES = ['chain', 'maps', 'bpf', 'tc', 'iptables', 'nft', 'aws', 'libpcap', 'pfsim-read'] as const;
export type TrialEngine = (typeof TRIAL_ENGINES)[number];

export interface Machine {
  readonly host: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  /** uname -r */
  readonly kernel: string;
  /** process.version */
  readonly node: string;
  /** git rev-parse --short HEAD, with "-dirty" when the tree had changes */
  readonly commit: string;
}

/** A figure measured over several repeats: the median and its spread. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** number of repeats */
  readonly n: number;
}

/** One trial: one engine on one workload at one scale, run in its own process. */
export interface Trial {
  /** 'demo' (the built-in demo cluster and its captures) or 'scale' (generated clusters) */
  readonly workload: string;
  /** nominal chain size of the workload: 10, 100, 1000, 10000, 100000 (demo: its real rule count) */
  readonly scale: number;
  readonly engine: TrialEngine;
  /** packets judged per repeat */
  readonly packets: number;
  /** wall-clock ns per packet over the repeats */
  readonly nsPerPacket: Spread;
  /** packets per second at the median */
  readonly pps: number;
  /** linear engines (chain, iptables, nft): mean rules walked per packet */
  readonly rulesWalkedPerPacket?: number;
  /** linear engines: ns per rule walked (kernel engines: above their own same-run smallest-scale cost) */
  readonly nsPerRule?: number;
  /** verdict counts over the trial's packets */
  readonly allow?: number;
  readonly deny?: number;
}

/** The static side of one workload × scale: sizes, compile time, update cost, agreement. */
export interface ScalePoint {
  readonly workload: string;
  readonly scale: number;
  /** rules in the generated iptables chains (all chains, both families) */
  readonly chainRules: number;
  /** bytes of iptables-restore text for those rules */
  readonly chainBytes: number;
  /** LPM entries over every pod and direction */
  readonly mapEntries: number;
  /** bytes of map keys + values as the kernel maps hold them */
  readonly mapBytes: number;
  /** time to compile the cluster into both plans */
  readonly compileMs: Spread;
  /** cost of applying one changed policy; absent parts could not run here */
  readonly update?: UpdateCost;
  /** verdict agreement between every pair of engines that ran at this point */
  readonly agreement: Agreement;
}

export interface UpdateCost {
  /** what changed, in words ("policy scale/p0: one ipBlock added") */
  readonly change: string;
  /** iptables-restore --noflush of the changed chains into the loaded ruleset (legacy backend) */
  readonly iptablesLegacyMs?: Spread;
  /** the same through iptables-nft-restore */
  readonly nftMs?: Spread;
  /** bpf_map_update_elem / delete_elem on the loaded tc program's maps */
  readonly bpfMs?: Spread;
  /** number of map operations the change took */
  readonly bpfOps: number;
  /** number of iptables rules in the changed chains */
  readonly chainRulesRewritten: number;
}

export interface Agreement {
  readonly engines: readonly string[];
  /** packets judged by all of `engines` */
  readonly packets: number;
  /** same[i][j]: packets on which engines i and j gave the same verdict */
  readonly same: readonly (readonly number[])[];
  /**
   * explained[i][j]: packets on which engines i and j differ because one of them (aws) departed
   * from Kubernetes semantics for a known reason; the rest of their differences are
   * disagreements. Absent in runs that did not record it: every difference of an engine that
   * departs by design (aws) is then taken as a departure.
   */
  readonly explained?: readonly (readonly number[])[];
}

/** A flow some engine denied, from the demo workload, with the policy reason. */
export interface DeniedFlow {
  readonly workload: string;
  /** "TCP 10.0.1.5:40000 -> 10.0.2.7:8080" */
  readonly flow: string;
  readonly packets: number;
  /** the engines that denied it */
  readonly deniedBy: readonly string[];
  readonly reason: string;
}

/** Replay through the worker pool: packets/s by worker count over the same trace. */
/** The worker threads' CPU time per packet at one worker count (medians over the repeats). */
export interface WorkerCpu {
  readonly workers: number;
  /** all workers' CPU time over the packets they judged: against one worker's, the cost of splitting (and of a core the host slowed) */
  readonly nsPerPacket: number;
  /** the slower worker's CPU time per packet over the faster's: 1 when the cores run alike */
  readonly slowestOverFastest: number;
}

export interface PoolScaling {
  readonly trace: string;
  readonly packets: number;
  readonly engines: readonly string[];
  readonly byWorkers: readonly { readonly workers: number; readonly pps: Spread }[];
  /** pps with the most workers over pps with one */
  readonly speedup: number;
  /** worker threads' CPU time per packet by worker count (Linux) */
  readonly workerCpu?: readonly WorkerCpu[];
  /** the same without the per-connection summary (counted by the workers, put in order by the main thread) */
  readonly verdictsOnly?: {
    readonly byWorkers: readonly { readonly workers: number; readonly pps: Spread }[];
    readonly speedup: number;
    readonly workerCpu?: readonly WorkerCpu[];
  };
  /** chain rules walked per packet on average over the trace: how heavy each packet is */
  readonly rulesWalkedPerPacket?: number;
}

/** Capture reading: libpcap's pcap_next_ex loop and pfsim's reader over the same file. */
export interface CaptureReading {
  readonly trace: string;
  readonly packets: number;
  readonly libpcapPps: Spread;
  readonly readPps: Spread;
  /** read + parse + maps verdict, stateful */
  readonly verdictPps: Spread;
}

/** Packets on which the `aws` engine departs from the Kubernetes answer, by stable reason code. */
export interface Departure {
  readonly workload: string;
  readonly scale: number;
  /** e.g. except-no-inherit, port-slots-exceeded, l4-offset-options, fragment-ports, icmpv6-always */
  readonly reason: string;
  readonly packets: number;
  /** one example flow */
  readonly example: string;
}

/** A capture replayed under two cluster states: the flows whose verdict changed. */
export interface PolicyDiff {
  /** what changed, in words ("deny-all applied to demo-app") */
  readonly label?: string;
  /** the manifests (or, for the built-in demo, the policy names) of each state */
  readonly before: readonly string[];
  readonly after: readonly string[];
  readonly trace: string;
  /** the engine whose verdict on a connection's first packet decides (the first one asked) */
  readonly engine?: string;
  /** connections in the trace */
  readonly flows: number;
  /** packets in the trace */
  readonly packets?: number;
  readonly changed: readonly {
    readonly flow: string;
    readonly packets: number;
    readonly before: 'allow' | 'deny';
    readonly after: 'allow' | 'deny';
    readonly beforeReason: string;
    readonly afterReason: string;
  }[];
}

export interface Results {
  readonly version: typeof RESULTS_VERSION;
  /** ISO time the run started */
  readonly started: string;
  readonly seconds: number;
  readonly machine: Machine;
  /** the command line's filters and flags, e.g. ["--quick"] */
  readonly args: readonly string[];
  readonly quick: boolean;
  readonly trials: readonly Trial[];
  readonly scales: readonly ScalePoint[];
  readonly pool?: PoolScaling;
  readonly capture?: CaptureReading;
  /** engines left out of this run and why */
  readonly skipped: readonly { readonly engine: string; readonly reason: string }[];
  readonly deniedFlows: readonly DeniedFlow[];
  readonly departures?: readonly Departure[];
  /** policy changes replayed against a capture (the demo's, and the user's --before/--after) */
  readonly diff?: readonly PolicyDiff[];
  /** one sentence answering "iptables or eBPF?" with this run's numbers */
  readonly headline: string;
}
