/**
 * The agent's conntrack map (aws_conntrack_map, shared by every pod's programs): keyed by the
 * packet's {source, source port, destination, destination port, protocol} AS READ (not in
 * canonical order) plus the owner pod's address (tc.v4ingress.bpf.c: owner = destination;
 * egress: owner = source), so each pod keeps its own entries and a reply finds the entry of
 * its pod through the swapped key. Each entry carries a small code: why the packet that opened
 * it departed from Kubernetes semantics, if it did (see src/engines/aws.ts).
 *
 * An open-addressing table of 14-word keys that doubles when 7/8 full, up to MAX_SLOTS; a full
 * table refuses new keys as a full BPF hash map does (the packet still passes; counted).
 */
const KEY_WORDS = 14; // src 4, dst 4, ports 1, proto 1, owner 4
const MAX_SLOTS = 1 << 21;

export class AgentConntrack {
  private keys: Int32Array;
  private used: Uint8Array;
  private codes: Uint8Array;
  private mask: number;
  private size = 0;
  /** inserts refused because the table was full */
  insertFailed = 0;
  private readonly key = new Int32Array(KEY_WORDS);

  constructor(capacity = 1 << 12) {
    if (!Number.isInteger(Math.log2(capacity))) throw new RangeError(`conntrack capacity ${capacity} is not a power of two`);
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.used = new Uint8Array(capacity);
    this.codes = new Uint8Array(capacity);
    this.mask = capacity - 1;
  }

  get entries(): number {
    return this.size;
  }

  /**
   * Sets the working key from packet bytes: ends a (source) and b (destination) at byte
   * offsets of `pkt`, ports as read, and the owner's address at `ownerOff`.
   */
  setKey(pkt: Uint8Array, aOff: number, aPort: number, bOff: number, bPort: number, proto: number, ownerOff: number): void {
    const k = this.key;
    for (let w = 0; w < 4; w++) {
      k[w] = word(pkt, aOff + 4 * w);
      k[4 + w] = word(pkt, bOff + 4 * w);
      k[10 + w] = word(pkt, ownerOff + 4 * w);
    }
    k[8] = (aPort << 16) | bPort;
    k[9] = proto;
  }

  /** slot of the working key, or -1 */
  find(): number {
    const h = this.hash();
    for (let s = h & this.mask, n = 0; n <= this.mask; s = (s + 1) & this.mask, n++) {
      if (this.used[s] === 0) return -1;
      if (this.equal(s)) return s;
    }
    return -1;
  }

  /** inserts (or overwrites, as BPF_ANY does) the working key with `code`; returns its slot, -1 when full */
  insert(code: number): number {
    if (this.crowded() && this.mask + 1 < MAX_SLOTS) this.grow();
    const h = this.hash();
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      if (this.used[s] === 0) {
        if (this.crowded()) { this.insertFailed++; return -1; }
        this.keys.set(this.key, s * KEY_WORDS);
        this.used[s] = 1;
        this.codes[s] = code;
        this.size++;
        return s;
      }
      if (this.equal(s)) {
        this.codes[s] = code;
        return s;
      }
    }
  }

  code(slot: number): number {
    return this.codes[slot]!;
  }

  setCode(slot: number, code: number): void {
    this.codes[slot] = code;
  }

  clear(): void {
    this.used.fill(0);
    this.size = 0;
    this.insertFailed = 0;
  }

  /** one more key would pass 7/8 of the slots */
  private crowded(): boolean {
    return this.size + 1 > ((this.mask + 1) >>> 3) * 7;
  }

  private hash(): number {
    let h = 0x811c9dc5 | 0;
    for (let w = 0; w < KEY_WORDS; w++) {
      h = Math.imul(h ^ this.key[w]!, 0x01000193);
      h ^= h >>> 13;
    }
    return (h ^ (h >>> 16)) >>> 0;
  }

  private equal(s: number): boolean {
    const base = s * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) if (this.keys[base + w] !== this.key[w]) return false;
    return true;
  }

  private grow(): void {
    const oldKeys = this.keys, oldUsed = this.used, oldCodes = this.codes;
    const cap = (this.mask + 1) * 2;
    this.keys = new Int32Array(cap * KEY_WORDS);
    this.used = new Uint8Array(cap);
    this.codes = new Uint8Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    const saved = this.key.slice();
    for (let s = 0; s < oldUsed.length; s++) {
      if (oldUsed[s] === 0) continue;
      this.key.set(oldKeys.subarray(s * KEY_WORDS, (s + 1) * KEY_WORDS));
      this.insert(oldCodes[s]!);
    }
    this.key.set(saved);
  }
}

function word(b: Uint8Array, off: number): number {
  return (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}
