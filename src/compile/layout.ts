/**
 * Encodes a MapsPlan into the byte layouts of native/include/pfsim.h: the flat typed arrays
 * the native classifier's `load()` takes (and, later, the tc program's map updates).
 * u16/u32 fields are in host byte order, addresses in network order; IPv4 is IPv4-mapped
 * IPv6 with prefix length 96 + n. Throws PfsimError PFSIM_ERR_COMPILE naming the plan field
 * of a malformed address or an oversized value.
 */
import { endianness } from 'node:os';
import { PfsimError } from '../errors.js';
import { addrBytes, parseCidr, parseIp } from '../net/ip.js';
import type { MapsPlan, PortEntry } from './plan.js';

/** mirrors of pfsim.h */
export const ADDR_LEN = 16;
export const VALUE_SLOTS = 24;
export const VALUE_MAX_ENTRIES = 4096;
export const VALUE_BYTES = 200;
export const LPM_KEY_BYTES = 20;
export const PORT_ENTRY_BYTES = 8;
export const POD_KEY_BYTES = 16;
export const DIR_INGRESS = 0;
export const DIR_EGRESS = 1;
export const STATE_ALLOW_ALL = 0;
export const STATE_ENFORCE = 1;

/** The arguments of the native `Classifier.load()`, in its order. */
export interface MapsLayout {
  /** 16 bytes per pod address (struct pf_pod_key) */
  readonly podAddrs: Uint8Array;
  /** two words per pod address: pod id, ingress | egress << 8 */
  readonly podStates: Uint32Array;
  /** every trie id a pod state or an entry refers to is below this */
  readonly trieCount: number;
  /** 20 bytes per entry (struct pf_lpm_key); entry id = index, tries in plan order */
  readonly entryKeys: Uint8Array;
  readonly entryTries: Uint32Array;
  readonly entryValues: Uint32Array;
  /** 200 bytes per value (struct pf_lpm_val) */
  readonly values: Uint8Array;
  /** 8 bytes per extension pool entry (struct pf_port_entry) */
  readonly ext: Uint8Array;
  /** entry id of the first entry of each plan trie (plan.tries order), plus the total */
  readonly trieFirstEntry: Uint32Array;
}

const littleEndian = endianness() === 'LE';

function compileError(msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_COMPILE', msg);
}

/** (proto, start) order, which the classifier's early exit relies on */
function sortedEntries(entries: readonly PortEntry[]): PortEntry[] {
  return [...entries].sort((a, b) => a.proto - b.proto || a.start - b.start || a.end - b.end);
}

function writePortEntry(dv: DataView, off: number, e: PortEntry): void {
  dv.setUint16(off, e.start, littleEndian);
  dv.setUint16(off + 2, e.end, littleEndian);
  dv.setUint8(off + 4, e.proto);
}

function checkPortEntry(e: PortEntry, where: string): void {
  const ok = (v: number, max: number) => Number.isInteger(v) && v >= 0 && v <= max;
  if (!ok(e.proto, 255) || !ok(e.start, 65535) || !ok(e.end, 65535) || e.start > e.end) {
    throw compileError(`${where}: bad port entry ${JSON.stringify(e)}`);
  }
}

/** Encodes `maps` into the native load arguments. */
export function encodeMaps(maps: MapsPlan): MapsLayout {
  const podCount = maps.podState.length;
  const podAddrs = new Uint8Array(podCount * POD_KEY_BYTES);
  const podStates = new Uint32Array(podCount * 2);
  let trieCount = 0;
  maps.podState.forEach((p, i) => {
    const addr = parseIp(p.ip);
    if (addr === undefined) throw compileError(`maps.podState[${i}].ip: "${p.ip}" is not an address`);
    addrBytes(addr, podAddrs, i * POD_KEY_BYTES);
    podStates[2 * i] = p.pod;
    podStates[2 * i + 1] = p.ingress | (p.egress << 8);
    if (p.ingress === STATE_ENFORCE) trieCount = Math.max(trieCount, p.pod * 2 + DIR_INGRESS + 1);
    if (p.egress === STATE_ENFORCE) trieCount = Math.max(trieCount, p.pod * 2 + DIR_EGRESS + 1);
  });

  let entryCount = 0;
  for (const t of maps.tries) {
    entryCount += t.entries.length;
    trieCount = Math.max(trieCount, t.id + 1);
  }
  const entryKeys = new Uint8Array(entryCount * LPM_KEY_BYTES);
  const keyView = new DataView(entryKeys.buffer);
  const entryTries = new Uint32Array(entryCount);
  const entryValues = new Uint32Array(entryCount);
  const trieFirstEntry = new Uint32Array(maps.tries.length + 1);
  let e = 0;
  maps.tries.forEach((t, ti) => {
    trieFirstEntry[ti] = e;
    t.entries.forEach((entry, ei) => {
      const r = parseCidr(entry.prefix);
      if (!r.ok) throw compileError(`maps.tries[${ti}].entries[${ei}].prefix: ${r.why}`);
      if (!Number.isInteger(entry.value) || entry.value < 0 || entry.value >= maps.values.length) {
        throw compileError(`maps.tries[${ti}].entries[${ei}].value: ${entry.value} is not a value index`);
      }
      keyView.setUint32(e * LPM_KEY_BYTES, r.cidr.len, littleEndian);
      addrBytes(r.cidr.addr, entryKeys, e * LPM_KEY_BYTES + 4);
      entryTries[e] = t.id;
      entryValues[e] = entry.value;
      e++;
    });
  });
  trieFirstEntry[maps.tries.length] = e;

  let extCount = 0;
  maps.values.forEach((v, vi) => {
    if (v.length > VALUE_MAX_ENTRIES) {
      throw compileError(`maps.values[${vi}]: ${v.length} port entries exceed the limit of ${VALUE_MAX_ENTRIES}`);
    }
    v.forEach((pe, k) => checkPortEntry(pe, `maps.values[${vi}][${k}]`));
    extCount += Math.max(0, v.length - VALUE_SLOTS);
  });
  const values = new Uint8Array(maps.values.length * VALUE_BYTES);
  const valView = new DataView(values.buffer);
  const ext = new Uint8Array(extCount * PORT_ENTRY_BYTES);
  const extView = new DataView(ext.buffer);
  let x = 0;
  maps.values.forEach((v, vi) => {
    const off = vi * VALUE_BYTES;
    const sorted = sortedEntries(v);
    valView.setUint32(off, sorted.length, littleEndian);
    valView.setUint32(off + 4, sorted.length > VALUE_SLOTS ? x : 0, littleEndian);
    sorted.forEach((pe, k) => {
      if (k < VALUE_SLOTS) writePortEntry(valView, off + 8 + k * PORT_ENTRY_BYTES, pe);
      else writePortEntry(extView, (x++) * PORT_ENTRY_BYTES, pe);
    });
  });

  return { podAddrs, podStates, trieCount, entryKeys, entryTries, entryValues, values, ext, trieFirstEntry };
}
