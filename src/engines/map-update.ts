/**
 * Policy updates on loaded tc program maps (the bpf and tc engines): a MapsDelta from
 * src/compile/delta.ts checked against the sizes the maps were made with, laid out as the flat
 * arrays of the addon's `applyDelta()`, and applied in one native call that issues every
 * bpf_map_update_elem / bpf_map_delete_elem, as the VPC CNI agent updates its maps.
 *
 * What the updater keeps between updates: the maps plan the kernel holds, the map sizes, and
 * which extension pool slots hold the port entries of values longer than the 24 inline slots
 * (a slot range is shared by every key of one plan value at load; each value a delta writes
 * gets a range of its own, freed when its last key is replaced, deleted or its trie goes).
 *
 * Error contract: prepare() throws PfsimError PFSIM_ERR_COMPILE naming the map and the count
 * when the delta does not fit the loaded maps or was made for other maps, PFSIM_ERR_UNSUPPORTED
 * for a value longer than the tc program scans; commit() throws the addon's PFSIM_ERR_NATIVE.
 * After a failed commit the maps are part updated and every later use throws until a reload.
 */
import { type MapsDelta, mapsFingerprint } from '../compile/delta.js';
import {
  encodeMaps, LPM_KEY_BYTES, type MapsLayout, POD_KEY_BYTES, PORT_ENTRY_BYTES, VALUE_BYTES, VALUE_SLOTS,
} from '../compile/layout.js';
import type { MapsPlan, PodStateEntry, PortEntry } from '../compile/plan.js';
import { PfsimError, wrapError } from '../errors.js';
import { addrBytes, bytesToAddr, familyOf, formatCidr, formatIp, parseCidr, parseIp } from '../net/ip.js';

/** The sizes the maps are made with: what later deltas may fill. */
export interface MapCapacities {
  /** pod_state records (a hash map: preallocated) */
  readonly pods: number;
  /** outer map slots: trie ids below this (an array of map pointers: preallocated) */
  readonly tries: number;
  /** entries of each LPM trie (BPF_F_NO_PREALLOC: memory only as entries arrive) */
  readonly trieEntries: number;
  /** extension pool slots (an array: preallocated, 8 bytes each) */
  readonly ext: number;
}

/**
 * The sizes a load of `layout` makes its maps with. By default there is room for later
 * updates, as the VPC CNI agent makes its maps at fixed sizes rather than to fit: twice what
 * the plan needs, and at least a floor so a small cluster can grow. A `requested` size below
 * what the load itself needs is raised to it (the addon does the same), and every map holds at
 * least one slot.
 */
export function capacitiesFor(layout: MapsLayout, requested: Partial<MapCapacities> = {}): MapCapacities {
  let largest = 0;
  for (let i = 0; i + 1 < layout.trieFirstEntry.length; i++) largest = Math.max(largest, layout.trieFirstEntry[i + 1]! - layout.trieFirstEntry[i]!);
  const need: MapCapacities = {
    pods: layout.podAddrs.length / POD_KEY_BYTES,
    tries: layout.trieCount,
    trieEntries: largest,
    ext: layout.ext.length / PORT_ENTRY_BYTES,
  };
  const floor: MapCapacities = { pods: 64, tries: 64, trieEntries: 1024, ext: 256 };
  const size = (k: keyof MapCapacities) => Math.max(need[k], requested[k] ?? Math.max(2 * need[k], floor[k]), 1);
  return { pods: size('pods'), tries: size('tries'), trieEntries: size('trieEntries'), ext: size('ext') };
}

/** The addon methods an updater drives (BpfClassifier, in test-run or attach mode). */
export interface NativeMapsUpdate {
  applyDelta(
    extSlots: Uint32Array, ext: Uint8Array, newTries: Uint32Array, podAddrs: Uint8Array, podStates: Uint32Array,
    lpmKeys: Uint8Array, lpmTries: Uint32Array, lpmValues: Uint32Array, lpmFill: number, values: Uint8Array,
    goneTries: Uint32Array,
  ): number;
  dump(): MapsDump;
}

/** The maps as read back by the addon's dump(). */
export interface MapsDump {
  /** 24 bytes per record: struct pf_pod_key, struct pf_pod_state */
  readonly pods: Uint8Array;
  /** trie ids with a trie in the outer map */
  readonly tries: Uint32Array;
  /** 224 bytes per entry: u32 trie id, struct pf_lpm_key, struct pf_lpm_val */
  readonly entries: Uint8Array;
  /** the whole extension pool */
  readonly ext: Uint8Array;
}

/** Map contents by meaning: pod address → "pod/ingress/egress"; trie id → prefix → port list. */
export interface MapsView {
  readonly pods: ReadonlyMap<string, string>;
  readonly tries: ReadonlyMap<number, ReadonlyMap<string, string>>;
}

const POD_STATE_DELETE = 0xffffffff;
const NO_ENTRY = 0xffffffff;
const DUMP_POD_BYTES = POD_KEY_BYTES + 8;
const DUMP_ENTRY_BYTES = 4 + LPM_KEY_BYTES + VALUE_BYTES;
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function updateError(msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_COMPILE', msg);
}

/** a port list as text, in the order the classifier keeps it: (proto, start, end) */
export function portsText(ports: readonly PortEntry[]): string {
  return [...ports].sort((a, b) => a.proto - b.proto || a.start - b.start || a.end - b.end)
    .map((p) => `${p.proto}:${p.start}-${p.end}`).join(',');
}

/** What a maps plan puts in the kernel, as a MapsView (tries without entries are not made). */
export function viewOfPlan(maps: MapsPlan): MapsView {
  const pods = new Map(maps.podState.map((p) => [p.ip, `${p.pod}/${p.ingress}/${p.egress}`]));
  const tries = new Map<number, Map<string, string>>();
  for (const t of maps.tries) {
    if (t.entries.length === 0) continue;
    tries.set(t.id, new Map(t.entries.map((e) => [e.prefix, portsText(maps.values[e.value]!)])));
  }
  return { pods, tries };
}

function readPorts(dv: DataView, off: number, count: number, extOff: number, ext: DataView): PortEntry[] {
  const out: PortEntry[] = [];
  for (let k = 0; k < count; k++) {
    const [view, at] = k < VALUE_SLOTS ? [dv, off + 8 + k * PORT_ENTRY_BYTES] : [ext, (extOff + k - VALUE_SLOTS) * PORT_ENTRY_BYTES];
    if (at + PORT_ENTRY_BYTES > view.byteLength) throw updateError(`dump: a value's extension entries run past the pool (slot ${extOff})`);
    out.push({ start: view.getUint16(at, littleEndian), end: view.getUint16(at + 2, littleEndian), proto: view.getUint8(at + 4) });
  }
  return out;
}

/** Decodes the addon's dump() into a MapsView, following values into the extension pool. */
export function viewOfDump(d: MapsDump): MapsView {
  const pods = new Map<string, string>();
  const pv = new DataView(d.pods.buffer, d.pods.byteOffset, d.pods.byteLength);
  for (let o = 0; o + DUMP_POD_BYTES <= d.pods.length; o += DUMP_POD_BYTES) {
    pods.set(formatIp(bytesToAddr(d.pods, o)), `${pv.getUint32(o + 16, littleEndian)}/${d.pods[o + 20]}/${d.pods[o + 21]}`);
  }
  const tries = new Map<number, Map<string, string>>(Array.from(d.tries, (t) => [t, new Map<string, string>()]));
  const ev = new DataView(d.entries.buffer, d.entries.byteOffset, d.entries.byteLength);
  const xv = new DataView(d.ext.buffer, d.ext.byteOffset, d.ext.byteLength);
  for (let o = 0; o + DUMP_ENTRY_BYTES <= d.entries.length; o += DUMP_ENTRY_BYTES) {
    const len = ev.getUint32(o + 4, littleEndian);
    const addr = bytesToAddr(d.entries, o + 8);
    const prefix = formatCidr({ addr, len, family: familyOf(addr) });
    const v = o + 4 + LPM_KEY_BYTES;
    const ports = readPorts(ev, v, ev.getUint32(v, littleEndian), ev.getUint32(v + 4, littleEndian), xv);
    tries.get(ev.getUint32(o, littleEndian))!.set(prefix, portsText(ports));
  }
  return { pods, tries };
}

/** A MapsView as sorted plain data, for comparisons and messages. */
export function viewEntries(v: MapsView): { pods: [string, string][]; tries: [number, [string, string][]][] } {
  return {
    pods: [...v.pods].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    tries: [...v.tries].sort((a, b) => a[0] - b[0]).map(([id, m]) => [id, [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1))]),
  };
}

/** Extension pool bookkeeping: slot ranges with the number of keys that use each. */
class ExtPool {
  constructor(
    readonly used: Uint8Array,
    /** range start → [length, keys using it] */
    readonly ranges: Map<number, [number, number]>,
    /** "trie|prefix" → start of the range its value uses */
    readonly byKey: Map<string, number>,
  ) {}

  clone(): ExtPool {
    return new ExtPool(this.used.slice(), new Map([...this.ranges].map(([s, r]) => [s, [r[0], r[1]]])), new Map(this.byKey));
  }

  get free(): number {
    let n = 0;
    for (const u of this.used) n += u === 0 ? 1 : 0;
    return n;
  }

  /** first fit; undefined when no run of `len` free slots is left */
  allocate(len: number): number | undefined {
    let run = 0;
    for (let i = 0; i < this.used.length; i++) {
      run = this.used[i] ? 0 : run + 1;
      if (run === len) {
        const start = i - len + 1;
        this.used.fill(1, start, i + 1);
        this.ranges.set(start, [len, 0]);
        return start;
      }
    }
    return undefined;
  }

  use(key: string, start: number): void {
    this.byKey.set(key, start);
    this.ranges.get(start)![1]++;
  }

  /** one key fewer uses the range at `start`; the range is free once none does */
  unref(start: number): void {
    const r = this.ranges.get(start)!;
    if (--r[1] > 0) return;
    this.ranges.delete(start);
    this.used.fill(0, start, start + r[0]);
  }
}

/** A delta checked and laid out for one native call; commit it on the updater that made it. */
export interface PreparedMapsDelta {
  /** the addon's applyDelta() arguments, in order */
  readonly args: Parameters<NativeMapsUpdate['applyDelta']>;
  /** map operations the call makes */
  readonly ops: number;
  readonly base: string;
  readonly next: MapsPlan;
  readonly pool: ExtPool;
}

const keyOf = (trie: number, prefix: string): string => `${trie}|${prefix}`;

/** the pool as a load of `layout` leaves it: one range per plan value that overflows */
function poolOfLoad(maps: MapsPlan, layout: MapsLayout, capacity: number): ExtPool {
  const pool = new ExtPool(new Uint8Array(capacity), new Map(), new Map());
  const dv = new DataView(layout.values.buffer, layout.values.byteOffset, layout.values.byteLength);
  maps.tries.forEach((t) => {
    for (const e of t.entries) {
      const count = dv.getUint32(e.value * VALUE_BYTES, littleEndian);
      if (count <= VALUE_SLOTS) continue;
      const start = dv.getUint32(e.value * VALUE_BYTES + 4, littleEndian);
      if (!pool.ranges.has(start)) {
        pool.ranges.set(start, [count - VALUE_SLOTS, 0]);
        pool.used.fill(1, start, start + count - VALUE_SLOTS);
      }
      pool.use(keyOf(t.id, e.prefix), start);
    }
  });
  return pool;
}

function encodeKey(prefix: string, out: Uint8Array, i: number, where: string): void {
  const r = parseCidr(prefix);
  if (!r.ok) throw updateError(`${where}: ${r.why}`);
  new DataView(out.buffer, out.byteOffset).setUint32(i * LPM_KEY_BYTES, r.cidr.len, littleEndian);
  addrBytes(r.cidr.addr, out, i * LPM_KEY_BYTES + 4);
}

function encodePods(set: readonly PodStateEntry[], del: readonly string[]): { addrs: Uint8Array; states: Uint32Array } {
  const addrs = new Uint8Array((set.length + del.length) * POD_KEY_BYTES);
  const states = new Uint32Array((set.length + del.length) * 2);
  const put = (ip: string, i: number, where: string) => {
    const a = parseIp(ip);
    if (a === undefined) throw updateError(`${where}: "${ip}" is not an address`);
    addrBytes(a, addrs, i * POD_KEY_BYTES);
  };
  set.forEach((p, i) => {
    put(p.ip, i, `delta.podSet[${i}].ip`);
    states[2 * i] = p.pod;
    states[2 * i + 1] = p.ingress | (p.egress << 8);
  });
  del.forEach((ip, k) => {
    const i = set.length + k;
    put(ip, i, `delta.podDelete[${k}]`);
    states[2 * i + 1] = POD_STATE_DELETE;
  });
  return { addrs, states };
}

export class MapsUpdater {
  private maps: MapsPlan;
  private pool: ExtPool;
  private broken: string | undefined;

  constructor(
    private readonly native: NativeMapsUpdate,
    maps: MapsPlan,
    layout: MapsLayout,
    readonly capacity: MapCapacities,
    /** the largest value the program scans (PF_TC_VALUE_MAX_ENTRIES) */
    private readonly valueMax: number,
  ) {
    this.maps = maps;
    this.pool = poolOfLoad(maps, layout, capacity.ext);
  }

  /** Throws when an earlier update failed part way: the maps hold neither plan. */
  assertUsable(label: string): void {
    if (this.broken !== undefined) {
      throw new PfsimError('PFSIM_ERR_NATIVE', `${label}: maps part updated by a failed update (${this.broken}); load the plan again`);
    }
  }

  /** Checks `delta` (from the loaded maps to `next`) against the maps and lays it out; changes nothing. */
  prepare(delta: MapsDelta, next: MapsPlan): PreparedMapsDelta {
    this.checkFits(delta, next);
    const pool = this.pool.clone();
    const fills = new Set(delta.trieCreate);
    const lpmFill = delta.lpmUpdate.findIndex((u) => !fills.has(u.trie));
    const fillCount = lpmFill < 0 ? delta.lpmUpdate.length : lpmFill;
    if (delta.lpmUpdate.slice(fillCount).some((u) => fills.has(u.trie))) throw updateError('delta.lpmUpdate: the fills of new tries must come first');
    // the other operations grouped by trie (updates before deletes in each), one trie lookup each
    interface Op { readonly trie: number; readonly prefix: string; readonly ports?: readonly PortEntry[]; readonly i: number }
    const updates = delta.lpmUpdate.map((u, i): Op => ({ ...u, i }));
    const rest = [...updates.slice(fillCount), ...delta.lpmDelete.map((d, i): Op => ({ ...d, i }))]
      .sort((a, b) => a.trie - b.trie || Number(!a.ports) - Number(!b.ports));
    const ordered = [...updates.slice(0, fillCount), ...rest];

    const n = ordered.length;
    const lpmKeys = new Uint8Array(n * LPM_KEY_BYTES), lpmTries = new Uint32Array(n), lpmValues = new Uint32Array(n);
    const values = new ValueTable(pool);
    // ranges the old values of these keys used: released only after every new range is taken,
    // so no new value lands on slots an old one still points at until the batch is applied
    const released: number[] = [];
    ordered.forEach((op, k) => {
      const where = `delta.${op.ports ? 'lpmUpdate' : 'lpmDelete'}[${op.i}]`;
      encodeKey(op.prefix, lpmKeys, k, `${where}.prefix`);
      lpmTries[k] = op.trie;
      const key = keyOf(op.trie, op.prefix);
      const old = pool.byKey.get(key);
      if (old !== undefined) { released.push(old); pool.byKey.delete(key); }
      lpmValues[k] = op.ports ? values.add(op.ports, key, `${where}.ports`) : NO_ENTRY;
    });
    // and the ranges of the keys of tries that go
    const gone = new Set(delta.trieRemove);
    for (const [key, start] of [...pool.byKey]) {
      if (gone.has(Number(key.slice(0, key.indexOf('|'))))) { released.push(start); pool.byKey.delete(key); }
    }
    for (const start of released) pool.unref(start);

    const pods = encodePods(delta.podSet, delta.podDelete);
    const v = values.encode();
    const args: PreparedMapsDelta['args'] = [
      v.extSlots, v.ext, Uint32Array.from(delta.trieCreate), pods.addrs, pods.states,
      lpmKeys, lpmTries, lpmValues, fillCount, v.values, Uint32Array.from(delta.trieRemove),
    ];
    return { args, ops: n + delta.trieCreate.length + delta.trieRemove.length + pods.states.length / 2 + v.extSlots.length, base: delta.from, next, pool };
  }

  /** Applies a prepared delta in one native call; returns the map operations made. */
  commit(p: PreparedMapsDelta, label: string): number {
    this.assertUsable(label);
    if (p.base !== mapsFingerprint(this.maps)) throw updateError(`${label}: update: prepared for other maps than the loaded ones (apply updates in the order they were prepared)`);
    let ops: number;
    try {
      ops = this.native.applyDelta(...p.args);
    } catch (err) {
      this.broken = err instanceof Error ? err.message : String(err);
      throw wrapError(`${label}: update`, err);
    }
    this.maps = p.next;
    this.pool = p.pool;
    return ops;
  }

  /** The loaded maps as the kernel holds them, read back. */
  dump(label: string): MapsView {
    this.assertUsable(label);
    try {
      return viewOfDump(this.native.dump());
    } catch (err) {
      throw wrapError(`${label}: dump`, err);
    }
  }

  private checkFits(delta: MapsDelta, next: MapsPlan): void {
    if (delta.from !== mapsFingerprint(this.maps)) throw updateError('delta: made for other maps than the loaded ones');
    if (delta.to !== mapsFingerprint(next)) throw updateError('delta: does not lead to the plan given with it');
    const cap = this.capacity;
    if (next.podState.length > cap.pods) {
      throw updateError(`pod_state: ${next.podState.length} pod addresses exceed the loaded map's ${cap.pods}`);
    }
    next.tries.forEach((t, i) => {
      if (t.entries.length === 0) return;
      if (t.id >= cap.tries) throw updateError(`maps.tries[${i}]: trie ${t.id} (pod ${t.pod} ${t.dir}) is past the outer map's ${cap.tries} slots`);
      if (t.entries.length > cap.trieEntries) {
        throw updateError(`maps.tries[${i}]: ${t.entries.length} entries (pod ${t.pod} ${t.dir}) exceed the loaded tries' capacity of ${cap.trieEntries}`);
      }
    });
    delta.lpmUpdate.forEach((u, i) => {
      if (u.ports.length > this.valueMax) {
        throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `delta.lpmUpdate[${i}]: ${u.ports.length} port entries exceed the tc program's limit of ${this.valueMax}`);
      }
    });
  }
}

/** The values of one delta: deduplicated when inline, one extension range each when longer. */
class ValueTable {
  private readonly list: (readonly PortEntry[])[] = [];
  private readonly slots: (number | undefined)[] = [];
  private readonly inline = new Map<string, number>();

  constructor(private readonly pool: ExtPool) {}

  add(ports: readonly PortEntry[], key: string, where: string): number {
    if (ports.length <= VALUE_SLOTS) {
      const text = portsText(ports);
      let i = this.inline.get(text);
      if (i === undefined) { i = this.list.length; this.list.push(ports); this.slots.push(undefined); this.inline.set(text, i); }
      return i;
    }
    // new slots while the old ones may still be read: the old range is freed only after
    const start = this.pool.allocate(ports.length - VALUE_SLOTS);
    if (start === undefined) {
      throw updateError(`${where}: ports_ext: ${ports.length - VALUE_SLOTS} extension slots needed in a row, ${this.pool.free} of ${this.pool.used.length} free`);
    }
    this.pool.use(key, start);
    this.list.push(ports);
    this.slots.push(start);
    return this.list.length - 1;
  }

  /** the values as struct pf_lpm_val records pointing at their pool slots, and the slot writes */
  encode(): { values: Uint8Array; ext: Uint8Array; extSlots: Uint32Array } {
    // layout.ts writes the records (sorted entries, inline slots, ext offsets from 0) ...
    const l = encodeMaps({ podState: [], tries: [], values: this.list.map((v) => [...v]) });
    const values = l.values;
    const dv = new DataView(values.buffer, values.byteOffset, values.byteLength);
    const extSlots = new Uint32Array(l.ext.length / PORT_ENTRY_BYTES);
    this.slots.forEach((start, i) => {
      if (start === undefined) return;
      // ... and each offset is moved to the range the pool gave
      const from = dv.getUint32(i * VALUE_BYTES + 4, littleEndian);
      const len = this.list[i]!.length - VALUE_SLOTS;
      for (let k = 0; k < len; k++) extSlots[from + k] = start + k;
      dv.setUint32(i * VALUE_BYTES + 4, start, littleEndian);
    });
    return { values, ext: l.ext, extSlots };
  }
}
