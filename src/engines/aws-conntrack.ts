/**
 * The agent's conntrack map (aws_conntrack_map, shared by every pod's programs): keyed by the
 * packet's {source, source port, destination, destination port, protocol} AS READ (not in
 * canonical order) plus the owner pod's address (tc.v4ingress.bpf.c: owner = destination;
 * egress: owner = source), so each pod keeps its own entries and a reply finds the entry of
 * its pod through the swapped key. Each entry carries a small code: why the packet that opened
 * it departed from Kubernetes semantics, if it did (see src/engines/aws.ts).
 *
 * The table is the shared CtTable (./conntrack.ts): entries age by trace time with the same
 * model as the other engines (the agent's cleanup removes the entries the kernel's conntrack
 * has aged out), and at `maxEntries` the oldest unassured entry goes first. A table full of
 * assured entries refuses the new key as a full BPF map refuses an update: the agent's program
 * ignores the error and the packet still passes (counted in insertFailed).
 */
import { CtTable, type CtTableOptions } from './conntrack.js';

const KEY_WORDS = 14; // src 4, dst 4, ports 1, proto 1, owner 4

export class AgentConntrack {
  private readonly table: CtTable;

  constructor(opts: CtTableOptions = {}) {
    this.table = new CtTable(KEY_WORDS, opts);
  }

  get entries(): number {
    return this.table.size;
  }

  /** keys refused because the table was full of assured entries */
  get insertFailed(): number {
    return this.table.insertFailed;
  }

  advanceClock(t: number): void {
    this.table.advanceClock(t);
  }

  /**
   * Sets the working key from packet bytes: ends a (source) and b (destination) at byte
   * offsets of `pkt`, ports as read, and the owner's address at `ownerOff`.
   */
  setKey(pkt: Uint8Array, aOff: number, aPort: number, bOff: number, bPort: number, proto: number, ownerOff: number): void {
    const k = this.table.key;
    for (let w = 0; w < 4; w++) {
      k[w] = word(pkt, aOff + 4 * w);
      k[4 + w] = word(pkt, bOff + 4 * w);
      k[10 + w] = word(pkt, ownerOff + 4 * w);
    }
    k[8] = (aPort << 16) | bPort;
    k[9] = proto;
  }

  /** slot of the working key's live entry, or -1 (an expired entry is gone) */
  find(proto: number, flags: number): number {
    return this.table.lookup(proto, flags);
  }

  /** a packet of the entry at `slot`, `reply` when it matched the swapped key */
  touch(slot: number, proto: number, flags: number, reply: boolean): void {
    this.table.touch(slot, proto, flags, reply);
  }

  /** inserts the working key (absent) with `code`; returns its slot, -1 when refused */
  insert(proto: number, flags: number, code: number): number {
    return this.table.insert(proto, flags, 0, code);
  }

  code(slot: number): number {
    return this.table.code(slot);
  }

  setCode(slot: number, code: number): void {
    this.table.setCode(slot, code);
  }

  clear(): void {
    this.table.clear();
  }
}

function word(b: Uint8Array, off: number): number {
  return (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}
