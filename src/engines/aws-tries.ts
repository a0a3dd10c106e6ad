/**
 * The agent's tries (an AwsPlan, src/compile/aws.ts) loaded for lookups from packet records:
 * pods by address, one longest-prefix map per pod, direction and family, and every entry's 24
 * slots as the agent's value array holds them (unused slots all zero, which matters: an empty
 * slot {0, 0, 0} matches protocol 0). Addresses are read from the 16 network-order bytes of
 * a pf_pkt end; IPv4 lives in the last four.
 */
import type { AwsEntry, AwsPlan, AwsPod } from '../compile/aws.js';
import { AWS_ANY_PORT, AWS_PROTO_ANY, AWS_PROTO_RESERVED, AWS_SLOTS, awsTrieId } from '../compile/aws.js';
import type { Direction } from '../cluster/model.js';
import { PfsimError } from '../errors.js';
import { type Cidr, addrBytes, parseCidr, parseIp } from '../net/ip.js';

/** An address as a map key: IPv4 as its u32, IPv6 as its 32 hex digits. */
export type AddrKey = number | string;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function addrKey(b: Uint8Array, off: number, family: number): AddrKey {
  if (family === 4) return ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
  let s = '';
  for (let k = 0; k < 16; k++) s += HEX[b[off + k]!];
  return s;
}

function keyOfAddr(addr: bigint): { key: AddrKey; family: 4 | 6 } {
  const b = addrBytes(addr);
  const family = addr >> 32n === 0xffffn ? 4 : 6;
  return { key: addrKey(b, 0, family), family };
}

/** One family's longest-prefix map: prefix lengths longest first, a key → entry map per length. */
class PrefixMap {
  private lens: number[] = [];
  private readonly maps = new Map<number, Map<AddrKey, number>>();

  constructor(private readonly family: 4 | 6) {}

  add(c: Cidr, entry: number): void {
    const len = this.family === 4 ? c.len - 96 : c.len;
    let m = this.maps.get(len);
    if (!m) {
      m = new Map();
      this.maps.set(len, m);
      this.lens = [...this.maps.keys()].sort((a, b) => b - a);
    }
    const b = addrBytes(c.addr);
    m.set(this.family === 4 ? v4Key(b, 0, len) : v6Key(b, 0, len), entry);
  }

  /** the entry of the longest prefix holding the address at b[off..off+16), or -1 */
  lookup(b: Uint8Array, off: number): number {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const e = this.maps.get(len)!.get(this.family === 4 ? v4Key(b, off, len) : v6Key(b, off, len));
      if (e !== undefined) return e;
    }
    return -1;
  }
}

function v4Key(b: Uint8Array, off: number, len: number): number {
  if (len === 0) return 0;
  const a = ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
  return a >>> (32 - len);
}

function v6Key(b: Uint8Array, off: number, len: number): string {
  let s = `${len}:`;
  const whole = len >> 3;
  for (let k = 0; k < whole; k++) s += HEX[b[off + k]!];
  const bits = len & 7;
  if (bits) s += HEX[b[off + whole]! & (0xff << (8 - bits)) & 0xff];
  return s;
}

/** How one trie value answered a packet: allowed or not, and the slot that decided (-1: none). */
export interface SlotMatch {
  readonly allow: boolean;
  readonly slot: number;
}

export class AgentTries {
  /** every entry of every trie, in plan order; an entry's global index is its reference */
  readonly entries: AwsEntry[] = [];
  /** the trie (id) each global entry belongs to */
  readonly entryTrie: number[] = [];
  /** 24 slots per entry, as the agent's value array */
  private readonly proto: Uint8Array;
  private readonly start: Uint16Array;
  private readonly end: Uint16Array;
  private readonly tries = new Map<number, PrefixMap>();
  private readonly podByAddr = new Map<AddrKey, number>();
  readonly pods = new Map<number, AwsPod>();
  /** per pod: the node addresses the agent does not treat as its node IP */
  private readonly otherNode = new Map<number, Set<AddrKey>>();

  /** Throws PfsimError PFSIM_ERR_COMPILE naming the plan field of a malformed address or slot. */
  constructor(plan: AwsPlan) {
    for (const [i, p] of plan.pods.entries()) {
      this.pods.set(p.pod, p);
      for (const ip of p.ips) this.podByAddr.set(this.addr(ip, `aws.pods[${i}].ips`).key, p.pod);
      const others = new Set<AddrKey>();
      for (const ip of p.otherNodeIps) others.add(this.addr(ip, `aws.pods[${i}].otherNodeIps`).key);
      if (others.size > 0) this.otherNode.set(p.pod, others);
    }
    const total = plan.tries.reduce((n, t) => n + t.entries.length, 0);
    this.proto = new Uint8Array(total * AWS_SLOTS);
    this.start = new Uint16Array(total * AWS_SLOTS);
    this.end = new Uint16Array(total * AWS_SLOTS);
    plan.tries.forEach((t, ti) => {
      const map = new PrefixMap(t.family);
      t.entries.forEach((e, ei) => {
        const where = `aws.tries[${ti}].entries[${ei}]`;
        const r = parseCidr(e.prefix);
        if (!r.ok || r.cidr.family !== t.family) throw new PfsimError('PFSIM_ERR_COMPILE', `${where}.prefix: ${r.ok ? `not IPv${t.family}` : r.why}`);
        if (e.slots.length > AWS_SLOTS) throw new PfsimError('PFSIM_ERR_COMPILE', `${where}.slots: ${e.slots.length} slots exceed ${AWS_SLOTS}`);
        const id = this.entries.length;
        e.slots.forEach((s, k) => {
          this.proto[id * AWS_SLOTS + k] = s.proto;
          this.start[id * AWS_SLOTS + k] = s.start;
          this.end[id * AWS_SLOTS + k] = s.end;
        });
        this.entries.push(e);
        this.entryTrie.push(t.id);
        map.add(r.cidr, id);
      });
      this.tries.set(t.id, map);
    });
  }

  private addr(ip: string, where: string): { key: AddrKey; family: 4 | 6 } {
    const a = parseIp(ip);
    if (a === undefined) throw new PfsimError('PFSIM_ERR_COMPILE', `${where}: "${ip}" is not an address`);
    return keyOfAddr(a);
  }

  /** pod id of the pod at b[off..off+16), or -1 */
  podAt(b: Uint8Array, off: number, family: number): number {
    return this.podByAddr.get(addrKey(b, off, family)) ?? -1;
  }

  /** is b[off..] an address of pod's node that the agent does not allow as the node IP? */
  isOtherNodeAddr(pod: number, b: Uint8Array, off: number, family: number): boolean {
    return this.otherNode.get(pod)?.has(addrKey(b, off, family)) ?? false;
  }

  /** global entry index of the longest prefix of pod's trie (dir, family) holding the peer, or -1 */
  lookup(pod: number, dir: Direction, family: 4 | 6, b: Uint8Array, off: number): number {
    const t = this.tries.get(awsTrieId(pod, dir, family));
    return t ? t.lookup(b, off) : -1;
  }

  /**
   * The agent's scan of a value (evaluateNamespacePolicyByLookUp): slot by slot, the reserved
   * protocol denies at once; a slot matches when its protocol is ANY or the packet's, and its
   * start port is ANY, equals the port, or the port is in (start, end].
   */
  match(entry: number, proto: number, dport: number): SlotMatch {
    const base = entry * AWS_SLOTS;
    for (let k = 0; k < AWS_SLOTS; k++) {
      const p = this.proto[base + k]!;
      if (p === AWS_PROTO_RESERVED) return { allow: false, slot: k };
      if (p !== AWS_PROTO_ANY && p !== proto) continue;
      const s = this.start[base + k]!;
      if (s === AWS_ANY_PORT || dport === s || (dport > s && dport <= this.end[base + k]!)) return { allow: true, slot: k };
    }
    return { allow: false, slot: -1 };
  }
}
