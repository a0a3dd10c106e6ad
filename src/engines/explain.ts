/**
 * Human reasons for the verdicts of the map-based engines (`maps`, `bpf`): which pod a
 * default deny belongs to, and which policy stands behind the LPM entry that allowed a side.
 * Off the hot path: only called when a verdict is printed.
 */
import type { LpmEntry, Plan, PlanPod } from '../compile/plan.js';
import { type Cidr, cidrContainsAddr, parseCidr, parseIp } from '../net/ip.js';
import { NO_REF, REASON_DENY_EGRESS, REASON_DENY_INGRESS, REASON_ESTABLISHED, REASON_NOT_ISOLATED, REASON_POLICY } from './engine.js';
import type { PacketHeader } from './packet.js';

export class MapsExplainer {
  private podByAddr: Map<bigint, number> | undefined;
  private readonly trieCidrs = new Map<number, { cidr: Cidr; entry: LpmEntry }[]>();

  constructor(private readonly plan: Plan) {}

  /** pod id of the pod at `addr`, from the pod state map */
  podIdAt(addr: bigint): number | undefined {
    if (!this.podByAddr) {
      this.podByAddr = new Map();
      for (const p of this.plan.maps.podState) {
        const a = parseIp(p.ip);
        if (a !== undefined) this.podByAddr.set(a, p.pod);
      }
    }
    return this.podByAddr.get(addr);
  }

  /** "ns/name" of pod `id` */
  podName(id: number | undefined): string {
    const pod: PlanPod | undefined =
      id === undefined ? undefined : this.plan.pods[id]?.id === id ? this.plan.pods[id] : this.plan.pods.find((p) => p.id === id);
    return pod ? `${pod.namespace}/${pod.name}` : 'unknown pod';
  }

  /**
   * The policy behind an entry. Its value is the union of several rules' ports, so which rule
   * allowed this very packet is not known here: the first rule (policy order) stands.
   */
  entrySource(entry: LpmEntry): string {
    const r = entry.rules[0];
    const rule = r === undefined ? undefined : this.plan.rules[r]?.id === r ? this.plan.rules[r] : this.plan.rules.find((x) => x.id === r);
    return rule?.source ?? `entry ${entry.prefix}`;
  }

  /** The longest entry of the pod's trie for `dir` that covers `peer` (for engines without entry ids). */
  lookup(podId: number, dir: 'ingress' | 'egress', peer: bigint): LpmEntry | undefined {
    const trieId = podId * 2 + (dir === 'ingress' ? 0 : 1);
    let cidrs = this.trieCidrs.get(trieId);
    if (!cidrs) {
      const trie = this.plan.maps.tries.find((t) => t.id === trieId);
      cidrs = [];
      for (const entry of trie?.entries ?? []) {
        const r = parseCidr(entry.prefix);
        if (r.ok) cidrs.push({ cidr: r.cidr, entry });
      }
      this.trieCidrs.set(trieId, cidrs);
    }
    let best: { cidr: Cidr; entry: LpmEntry } | undefined;
    for (const c of cidrs) if (cidrContainsAddr(c.cidr, peer) && (!best || c.cidr.len > best.cidr.len)) best = c;
    return best?.entry;
  }

  /**
   * The reason text for one verdict. `side(dir)` gives the entry that allowed that side, or
   * undefined when the side was not enforced; `denyPod(dir)` the pod id a default deny names.
   */
  describe(reason: number, p: PacketHeader, side: (dir: 'egress' | 'ingress') => LpmEntry | undefined | typeof NO_REF,
    denyPod: (dir: 'egress' | 'ingress') => number | undefined): string {
    switch (reason) {
      case REASON_ESTABLISHED: return 'established';
      case REASON_NOT_ISOLATED: return 'not isolated';
      case REASON_DENY_EGRESS: return `default deny egress ${this.podName(denyPod('egress') ?? this.podIdAt(p.src))}`;
      case REASON_DENY_INGRESS: return `default deny ingress ${this.podName(denyPod('ingress') ?? this.podIdAt(p.dst))}`;
      case REASON_POLICY: {
        const parts: string[] = [];
        for (const dir of ['egress', 'ingress'] as const) {
          const e = side(dir);
          if (e !== NO_REF) parts.push(`allowed by ${e ? this.entrySource(e) : 'no entry'} ${dir}`);
        }
        return parts.join(', ');
      }
      default:
        return `unknown reason ${String(reason)}`;
    }
  }
}
