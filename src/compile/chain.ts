/**
 * Compiles resolved policy into iptables-style linear chains, one table per address family, in
 * the shape Calico generates (and kube-router much like it):
 *
 *   FORWARD → PFSIM-FORWARD: ESTABLISHED,RELATED accept; per pod IP a jump to the pod's
 *   from-workload chain (egress, PFSIM-FW-<pod>) and to-workload chain (ingress, PFSIM-TW-<pod>)
 *   when the pod is isolated in that direction; then ACCEPT.
 *   Endpoint chain: clear the pass mark; node allow; for each policy a jump to its policy chain
 *   followed by "RETURN if the pass mark is set"; last, DROP (default deny).
 *   Policy chain: per rule, peer and port matches that set the pass mark, then RETURN if set.
 *   One policy chain serves every pod for which the policy resolves to the same peers and ports
 *   (endpoint chains jump to it, they do not copy it), so N policies over N pods make N policy
 *   chains, not N².
 *
 * Ingress rules match the remote as source (-s), egress rules as destination (-d).
 */
import { type Cidr, formatCidr, formatIp, familyOf } from '../net/ip.js';
import type { Direction } from '../cluster/model.js';
import { type Block, type PodSide, type Resolution, type ResolvedRule, type ResolvedPod, ANY_BLOCK } from '../policy/resolve.js';
import { type Chain, type ChainRule, type ChainTable, PlanBudget, PROTO_ANY } from './plan.js';

export const ENTRY_CHAIN = 'PFSIM-FORWARD';

const MARK: ChainRule['target'] = { kind: 'MARK' };
const RETURN_IF_MARKED: ChainRule = { marked: true, target: { kind: 'RETURN' } };

type Family = 4 | 6;

function inFamily(b: Block, f: Family): boolean {
  // the any-block (from an empty peer list) belongs to both families; an ipBlock ::/0 does not
  return b === ANY_BLOCK || b.cidr.family === f;
}

/** a CIDR as a match: undefined for "any address" in this family */
function match(c: Cidr, f: Family): string | undefined {
  if (c.len === 0 || (f === 4 && c.len === 96 && c.family === 4)) return undefined;
  return c.len === 128 ? formatIp(c.addr) + (f === 4 ? '/32' : '/128') : formatCidr(c);
}

class TableBuilder {
  readonly chains: Chain[] = [];
  private readonly byContent = new Map<string, string>();
  private counter = new Map<string, number>();
  /** policy chain name (undefined: no lines in this family) by policy, direction and rule shapes */
  private readonly policyChains = new Map<string, string | undefined>();
  private readonly objectIds = new WeakMap<object, number>();
  private nextObjectId = 0;
  /** match text per Cidr object: peer sets share their addresses' Cidrs across policies */
  private readonly matches = new WeakMap<Cidr, string | undefined>();

  constructor(readonly family: Family, private readonly budget: PlanBudget) {}

  /** Adds a chain unless one with the same rules exists; returns its name. */
  add(prefix: string, dir: Direction | undefined, rules: ChainRule[]): string {
    const key = `${prefix}|${dir ?? ''}|${JSON.stringify(rules)}`;
    const have = this.byContent.get(key);
    if (have) return have;
    this.count(rules.length);
    const n = this.counter.get(prefix) ?? 0;
    this.counter.set(prefix, n + 1);
    const name = `${prefix}-${n}`;
    this.chains.push({ name, ...(dir ? { dir } : {}), rules });
    this.byContent.set(key, name);
    return name;
  }

  count(rules: number): void {
    this.budget.take(rules, `IPv${this.family} chains`);
  }

  /**
   * The policy chain for one policy's rules as resolved for one pod, built on first use and
   * shared by every later pod whose rules resolve to the same peer sets and ports. Its MARK
   * rules name the first pod's PlanRules (the same policy rules); undefined when the rules
   * allow nothing in this family.
   */
  policyChain(group: readonly ResolvedRule[], dir: Direction): string | undefined {
    // resolve() shares peer sets and port lists between rules: the same arrays, the same lines
    const key = `${group[0]!.source}|${dir}|${group.map((r) => `${r.index}:${this.idOf(r.blocks)}:${this.idOf(r.ports)}`).join(',')}`;
    if (this.policyChains.has(key)) return this.policyChains.get(key);
    const lines = group.flatMap((r) => this.ruleLines(r));
    const name = lines.length === 0 ? undefined : this.add(dir === 'ingress' ? 'PFSIM-PI' : 'PFSIM-PO', dir, lines);
    this.policyChains.set(key, name);
    return name;
  }

  private match(c: Cidr): string | undefined {
    if (this.matches.has(c)) return this.matches.get(c);
    const m = match(c, this.family);
    this.matches.set(c, m);
    return m;
  }

  private idOf(o: object): number {
    let id = this.objectIds.get(o);
    if (id === undefined) { id = this.nextObjectId++; this.objectIds.set(o, id); }
    return id;
  }

  /** Lines that set the pass mark for one resolved rule (empty when it allows nothing here). */
  ruleLines(r: ResolvedRule): ChainRule[] {
    const f = this.family;
    const remote = r.dir === 'ingress' ? 'src' : 'dst';
    const comment = `${r.source} ${r.dir}`;
    const general = r.ports.filter((p) => p.only === undefined);
    const portMatch = (p: { proto: number; start: number; end: number }): Partial<ChainRule> => {
      if (p.proto === PROTO_ANY) return {};
      if (p.start === 0 && p.end === 65535) return { proto: p.proto };
      return { proto: p.proto, dport: [p.start, p.end] };
    };
    const mark = (m: Partial<ChainRule>): ChainRule => ({ ...m, target: MARK, comment, rule: r.id });
    const lines: ChainRule[] = [];
    let portsChain: string | undefined;
    const portsTarget = (): string =>
      (portsChain ??= this.add('PFSIM-PP', r.dir, general.map((p) => mark(portMatch(p)))));
    for (const b of r.blocks) {
      if (!inFamily(b, f) || general.length === 0) continue;
      const m = this.match(b.cidr);
      const at: Partial<ChainRule> = m ? { [remote]: m } : {};
      const excepts = b.except.filter((e) => e.family === f).map((e) => match(e, f)!);
      if (excepts.length === 0) {
        if (general.length === 1) lines.push(mark({ ...at, ...portMatch(general[0]!) }));
        else lines.push({ ...at, target: { kind: 'JUMP', chain: portsTarget() } });
        continue;
      }
      const inner: ChainRule[] = excepts.map((e) => ({ [remote]: e, target: { kind: 'RETURN' } }) as ChainRule);
      if (general.length === 1) inner.push(mark(portMatch(general[0]!)));
      else inner.push({ target: { kind: 'JUMP', chain: portsTarget() } });
      lines.push({ ...at, target: { kind: 'JUMP', chain: this.add('PFSIM-PX', r.dir, inner) } });
    }
    for (const p of r.ports) {
      if (!p.only || familyOf(p.only.addr) !== f) continue;
      lines.push(mark({ [remote]: match(p.only, f)!, ...portMatch(p) }));
    }
    if (lines.length > 0) lines.push(RETURN_IF_MARKED);
    return lines;
  }
}

function endpointChain(t: TableBuilder, rp: ResolvedPod, dir: Direction, side: PodSide): Chain {
  const rules: ChainRule[] = [{ target: { kind: 'CLEARMARK' } }];
  // group consecutive rules by source (policy or node), one policy chain each
  let i = 0;
  while (i < side.rules.length) {
    const source = side.rules[i]!.source;
    const group: ResolvedRule[] = [];
    while (i < side.rules.length && side.rules[i]!.source === source) group.push(side.rules[i++]!);
    if (source.startsWith('node/')) { rules.push(...group.flatMap((r) => t.ruleLines(r))); continue; }
    const name = t.policyChain(group, dir);
    if (name === undefined) continue;
    rules.push({ target: { kind: 'JUMP', chain: name }, comment: `${source} ${dir}` }, RETURN_IF_MARKED);
  }
  rules.push({ target: { kind: 'DROP' }, comment: `default deny ${dir} ${rp.pod.namespace}/${rp.pod.name}` });
  t.count(rules.length);
  return { name: `PFSIM-${dir === 'ingress' ? 'TW' : 'FW'}-${rp.id}`, dir, rules };
}

/**
 * The chain table of one address family. Throws PfsimError PFSIM_ERR_COMPILE (from `budget`)
 * as soon as the rules made pass its limit.
 */
export function compileChainTable(res: Resolution, family: Family, budget: PlanBudget = new PlanBudget()): ChainTable {
  const t = new TableBuilder(family, budget);
  const entry: ChainRule[] = [{ established: true, target: { kind: 'ACCEPT' }, comment: 'established' }];
  const endpoints: Chain[] = [];
  for (const dir of ['egress', 'ingress'] as const) {
    for (const rp of res.pods) {
      const side = rp[dir];
      if (!side.isolated) continue;
      const ips = rp.pod.ips.filter((ip) => familyOf(ip) === family);
      if (ips.length === 0) continue;
      const ep = endpointChain(t, rp, dir, side);
      endpoints.push(ep);
      for (const ip of ips) {
        entry.push({ [dir === 'egress' ? 'src' : 'dst']: match({ addr: ip, len: 128, family }, family)!, target: { kind: 'JUMP', chain: ep.name } } as ChainRule);
      }
    }
  }
  entry.push({ target: { kind: 'ACCEPT' }, comment: 'allowed' });
  t.count(entry.length);
  return { family, entry: ENTRY_CHAIN, chains: [{ name: ENTRY_CHAIN, rules: entry }, ...endpoints, ...t.chains] };
}
