/**
 * The difference between two compiled plans, as the two dataplanes apply a policy change:
 *
 * - chains: the chains of one family's table that changed, as an `iptables-restore --noflush`
 *   payload that rewrites exactly those (declaring a chain under --noflush flushes it, or
 *   creates it), creates new ones and deletes the ones no longer jumped to. This is what
 *   Calico does on a policy change: only changed chains, in one restore transaction.
 * - maps: the map operations that turn the loaded maps of plan A into those of plan B, as
 *   the VPC CNI agent updates its maps: LPM trie key updates and deletes per pod and
 *   direction, tries made or dropped as a pod side gains its first entry or loses its last,
 *   and pod state records set or deleted.
 *
 * Content-named chains (the policy, except and port chains, numbered by first appearance in
 * chain.ts) get their numbers from their position, so one changed policy can shift the number
 * of every chain after it. The chain diff therefore matches chains by content, not name: a
 * chain of B whose rules (with jump targets matched the same way) A already holds keeps A's
 * name and is not rewritten. The delta's `result` is B with those names: the table the kernel
 * holds afterwards, and the `from` of the next delta.
 *
 * Pure functions over plans; nothing here touches the kernel. Throws PfsimError
 * PFSIM_ERR_COMPILE naming the plan field when two tables cannot be diffed.
 */
import { createHash } from 'node:crypto';
import { PfsimError } from '../errors.js';
import { ruleArgs } from './iptables.js';
import type { Chain, ChainRule, ChainTable, LpmTrie, MapsPlan, Plan, PodStateEntry, PortEntry } from './plan.js';

// --- chains ------------------------------------------------------------------------------------

export interface ChainTableDelta {
  readonly family: 4 | 6;
  /** chains written in full (created or rewritten), under their final names, in table order */
  readonly written: readonly Chain[];
  /** the names among `written` that the old table did not have */
  readonly created: readonly string[];
  /** chains of the old table that nothing uses any more: flushed, then deleted */
  readonly deleted: readonly string[];
  /** rules in `written`: what the restore sends for this family */
  readonly rulesRewritten: number;
  /** the new table under the names the kernel holds after the delta (B, renamed) */
  readonly result: ChainTable;
}

/** `PFSIM-PI-3` → `PFSIM-PI`: chains named by TableBuilder.add() in chain.ts, by first appearance */
const CONTENT_NAMED = /^(PFSIM-P[IOPX])-(\d+)$/;

function contentPrefix(name: string): string | undefined {
  return CONTENT_NAMED.exec(name)?.[1];
}

function diffError(msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_COMPILE', msg);
}

/**
 * Canonical content key of every chain: its rules as iptables would hold them, with each jump
 * target replaced by the number of the target's own key in `numbers` (shared by the tables
 * compared), so equal keys mean equal rules whatever the names. Throws on a jump to a missing
 * chain or a jump loop (iptables refuses both).
 */
function chainKeys(t: ChainTable, where: string, numbers: Map<string, number>): Map<string, string> {
  const byName = new Map(t.chains.map((c) => [c.name, c]));
  const keys = new Map<string, string>();
  const visiting = new Set<string>();
  const keyOf = (name: string): string => {
    const have = keys.get(name);
    if (have !== undefined) return have;
    const c = byName.get(name);
    if (!c) throw diffError(`${where}: a rule jumps to chain ${name}, which the table does not declare`);
    if (visiting.has(name)) throw diffError(`${where}: chain ${name} jumps back into itself`);
    visiting.add(name);
    const body = c.rules.map((r) => {
      if (r.target.kind !== 'JUMP') return ruleArgs(r);
      const k = keyOf(r.target.chain);
      let n = numbers.get(k);
      if (n === undefined) { n = numbers.size; numbers.set(k, n); }
      return ruleArgs({ ...r, target: { kind: 'JUMP', chain: `#${n}` } });
    });
    visiting.delete(name);
    const key = `${contentPrefix(name) ?? name}\n${body.join('\n')}`;
    keys.set(name, key);
    return key;
  };
  for (const c of t.chains) keyOf(c.name);
  return keys;
}

/** B's chain names mapped to final names: A's name for content A holds, else B's, else a fresh one. */
function finalNames(from: ChainTable, to: ChainTable, fromKeys: Map<string, string>, toKeys: Map<string, string>): Map<string, string> {
  const reusable = new Map<string, string>();
  for (const c of from.chains) {
    const k = fromKeys.get(c.name)!;
    if (contentPrefix(c.name) && !reusable.has(k)) reusable.set(k, c.name);
  }
  const rename = new Map<string, string>();
  const taken = new Set<string>();
  // role-named chains (the entry, the endpoint chains of pods) keep their names
  for (const c of to.chains) {
    if (contentPrefix(c.name) === undefined) { rename.set(c.name, c.name); taken.add(c.name); }
  }
  // content A already holds: reuse A's chain, unchanged
  for (const c of to.chains) {
    if (rename.has(c.name)) continue;
    const a = reusable.get(toKeys.get(c.name)!);
    if (a !== undefined && !taken.has(a)) { rename.set(c.name, a); taken.add(a); }
  }
  // new content: B's own name unless a reused chain holds it, then the next unused number
  const next = new Map<string, number>();
  for (const c of [...from.chains, ...to.chains]) {
    const m = CONTENT_NAMED.exec(c.name);
    if (m) next.set(m[1]!, Math.max(next.get(m[1]!) ?? 0, Number(m[2]) + 1));
  }
  for (const c of to.chains) {
    if (rename.has(c.name)) continue;
    let name = c.name;
    if (taken.has(name)) {
      const prefix = contentPrefix(name)!;
      const n = next.get(prefix)!;
      next.set(prefix, n + 1);
      name = `${prefix}-${n}`;
    }
    rename.set(c.name, name);
    taken.add(name);
  }
  return rename;
}

function renamedRule(r: ChainRule, rename: Map<string, string>): ChainRule {
  return r.target.kind === 'JUMP' ? { ...r, target: { kind: 'JUMP', chain: rename.get(r.target.chain)! } } : r;
}

const chainText = (c: Chain): string => c.rules.map(ruleArgs).join('\n');

/**
 * What changes when table `from` (as loaded in the kernel) is replaced by `to`. `from` must be
 * what the kernel holds: the `result` of the previous delta, if any. Throws PfsimError
 * PFSIM_ERR_COMPILE when the families or entry chains differ, or a table is malformed.
 */
export function diffChainTables(from: ChainTable, to: ChainTable): ChainTableDelta {
  const where = `chain.ipv${to.family}`;
  if (from.family !== to.family) throw diffError(`${where}.family: ${to.family} against a loaded IPv${from.family} table`);
  if (from.entry !== to.entry) throw diffError(`${where}.entry: ${to.entry} differs from the loaded entry chain ${from.entry}`);
  const numbers = new Map<string, number>();
  const fromKeys = chainKeys(from, `${where} (loaded)`, numbers);
  const toKeys = chainKeys(to, where, numbers);
  const rename = finalNames(from, to, fromKeys, toKeys);
  const chains: Chain[] = to.chains.map((c) => ({ ...c, name: rename.get(c.name)!, rules: c.rules.map((r) => renamedRule(r, rename)) }));
  const result: ChainTable = { family: to.family, entry: to.entry, chains };
  const loaded = new Map(from.chains.map((c) => [c.name, c]));
  const written = chains.filter((c) => {
    const old = loaded.get(c.name);
    return !old || old.rules.length !== c.rules.length || chainText(old) !== chainText(c);
  });
  const kept = new Set(chains.map((c) => c.name));
  return {
    family: to.family,
    written,
    created: written.filter((c) => !loaded.has(c.name)).map((c) => c.name),
    deleted: from.chains.filter((c) => !kept.has(c.name)).map((c) => c.name),
    rulesRewritten: written.reduce((s, c) => s + c.rules.length, 0),
    result,
  };
}

export function chainDeltaEmpty(d: ChainTableDelta): boolean {
  return d.written.length === 0 && d.deleted.length === 0;
}

/**
 * The delta as `iptables-restore --noflush` input (ip6tables-restore for IPv6), or '' when
 * nothing changed. Declared chains are flushed (or created) by the restore itself; chains to
 * delete are flushed first, then deleted after every rule that jumped to them is gone, all in
 * one transaction.
 */
export function renderChainDelta(d: ChainTableDelta): string {
  if (chainDeltaEmpty(d)) return '';
  const tool = d.family === 4 ? 'iptables' : 'ip6tables';
  const out = [
    `# pfsim policy update (IPv${d.family}): ${d.written.length} chains written (${d.created.length} new), ${d.deleted.length} deleted, ${d.rulesRewritten} rules; load with ${tool}-restore --noflush`,
    '*filter',
  ];
  for (const c of d.written) out.push(`:${c.name} - [0:0]`);
  for (const c of d.written) for (const r of c.rules) out.push(`-A ${c.name} ${ruleArgs(r)}`);
  for (const name of d.deleted) out.push(`-F ${name}`);
  for (const name of d.deleted) out.push(`-X ${name}`);
  out.push('COMMIT', '');
  return out.join('\n');
}

// --- maps --------------------------------------------------------------------------------------

/** Insert or replace one LPM key of one trie; `ports` is the whole new value. */
export interface LpmUpdate {
  readonly trie: number;
  readonly prefix: string;
  readonly ports: readonly PortEntry[];
}

export interface LpmDelete {
  readonly trie: number;
  readonly prefix: string;
}

/**
 * The map operations from one maps plan to another, in the order they are applied: tries
 * that gain their first entry are made and filled before any pod enforces them; pod records
 * change; keys of the other tries are updated, then deleted; tries left empty go last, after
 * no pod enforces them. Values are carried whole (port lists), not as plan value indexes.
 */
export interface MapsDelta {
  /** fingerprints (mapsFingerprint) of the maps the delta applies to and of the maps it makes */
  readonly from: string;
  readonly to: string;
  /** trie ids that gain their first entry (sorted); their entries lead `lpmUpdate` */
  readonly trieCreate: readonly number[];
  /** pod state records new or changed */
  readonly podSet: readonly PodStateEntry[];
  /** pod addresses whose record goes */
  readonly podDelete: readonly string[];
  /** keys to insert or replace: first those filling `trieCreate`, then the others, by trie */
  readonly lpmUpdate: readonly LpmUpdate[];
  /** keys to delete from tries that stay */
  readonly lpmDelete: readonly LpmDelete[];
  /** trie ids that lose their last entry (sorted): taken out of the outer map */
  readonly trieRemove: readonly number[];
  /** map element writes and deletes in all, extension pool slots included */
  readonly ops: number;
}

/** port entries held inline in a value (PF_VALUE_SLOTS); the rest take extension pool slots */
const VALUE_SLOTS = 24;

const fingerprints = new WeakMap<MapsPlan, string>();

/** A stable hash of a maps plan (sha256 of its JSON), to tie a delta to the maps it was made for. */
export function mapsFingerprint(maps: MapsPlan): string {
  let f = fingerprints.get(maps);
  if (f === undefined) {
    f = createHash('sha256').update(JSON.stringify(maps)).digest('hex');
    fingerprints.set(maps, f);
  }
  return f;
}

const portsKey = (ports: readonly PortEntry[]): string => ports.map((p) => `${p.proto}:${p.start}-${p.end}`).join(',');

/** prefix → port list of every non-empty trie, by trie id */
function trieContents(maps: MapsPlan): Map<number, { trie: LpmTrie; keys: Map<string, string> }> {
  const out = new Map<number, { trie: LpmTrie; keys: Map<string, string> }>();
  for (const t of maps.tries) {
    if (t.entries.length === 0) continue; // an empty trie is no trie: the lookup finds nothing either way
    out.set(t.id, { trie: t, keys: new Map(t.entries.map((e) => [e.prefix, portsKey(maps.values[e.value]!)])) });
  }
  return out;
}

const podRecord = (p: PodStateEntry): string => `${p.pod}/${p.ingress}/${p.egress}`;

/** The map operations that turn the maps of `from` into those of `to`. */
export function diffMaps(from: MapsPlan, to: MapsPlan): MapsDelta {
  const a = trieContents(from), b = trieContents(to);
  const trieCreate: number[] = [], trieRemove: number[] = [];
  const fills: LpmUpdate[] = [], updates: LpmUpdate[] = [], lpmDelete: LpmDelete[] = [];
  for (const [id, { trie, keys }] of b) {
    const old = a.get(id);
    if (!old) trieCreate.push(id);
    for (const e of trie.entries) {
      const k = keys.get(e.prefix)!;
      if (old?.keys.get(e.prefix) === k) continue;
      (old ? updates : fills).push({ trie: id, prefix: e.prefix, ports: to.values[e.value]! });
    }
    if (!old) continue;
    for (const e of old.trie.entries) if (!keys.has(e.prefix)) lpmDelete.push({ trie: id, prefix: e.prefix });
  }
  for (const id of a.keys()) if (!b.has(id)) trieRemove.push(id);
  trieCreate.sort((x, y) => x - y);
  trieRemove.sort((x, y) => x - y);
  fills.sort((x, y) => x.trie - y.trie); // stable: plan order within a trie

  const oldPods = new Map(from.podState.map((p) => [p.ip, podRecord(p)]));
  const newIps = new Set(to.podState.map((p) => p.ip));
  const podSet = to.podState.filter((p) => oldPods.get(p.ip) !== podRecord(p));
  const podDelete = from.podState.filter((p) => !newIps.has(p.ip)).map((p) => p.ip);

  const lpmUpdate = [...fills, ...updates];
  const extWrites = lpmUpdate.reduce((s, u) => s + Math.max(0, u.ports.length - VALUE_SLOTS), 0);
  return {
    from: mapsFingerprint(from),
    to: mapsFingerprint(to),
    trieCreate, podSet, podDelete, lpmUpdate, lpmDelete, trieRemove,
    ops: trieCreate.length + podSet.length + podDelete.length + lpmUpdate.length + lpmDelete.length + trieRemove.length + extWrites,
  };
}

export function mapsDeltaEmpty(d: MapsDelta): boolean {
  return d.ops === 0;
}

// --- both --------------------------------------------------------------------------------------

export interface PlanDelta {
  readonly chain: { readonly ipv4: ChainTableDelta; readonly ipv6: ChainTableDelta };
  readonly maps: MapsDelta;
}

/**
 * The whole difference from plan `from` (as loaded) to plan `to`. For chains, `from`'s tables
 * must be the ones the kernel holds (after an earlier delta: that delta's `result` tables).
 */
export function diffPlans(from: Plan, to: Plan): PlanDelta {
  return {
    chain: { ipv4: diffChainTables(from.chain.ipv4, to.chain.ipv4), ipv6: diffChainTables(from.chain.ipv6, to.chain.ipv6) },
    maps: diffMaps(from.maps, to.maps),
  };
}

/** `plan` with the chain tables replaced by what the kernel holds after `delta` (its results). */
export function planAfter(plan: Plan, delta: PlanDelta): Plan {
  return { ...plan, chain: { ipv4: delta.chain.ipv4.result, ipv6: delta.chain.ipv6.result } };
}
