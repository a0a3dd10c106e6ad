/**
 * The tc program stays within Linux 5.10: every helper it calls and every map type it
 * declares exists there, and it calls no kfuncs. Read from the built object itself:
 * `llvm-objdump -d` for the call instructions, `bpftool btf dump` for the map definitions.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bpfObjectPath, BPF_OBJECT_PATH } from '../src/engines/bpf.js';

/*
 * The highest helper id of Linux 5.10: BPF_FUNC_redirect_peer = 155, the last FN() of
 * __BPF_FUNC_MAPPER in include/uapi/linux/bpf.h at v5.10 (task_storage_get, 156, came in
 * 5.11). The number is the enum's position, which never changes (uapi).
 */
const MAX_HELPER_5_10 = 155;

/*
 * The highest map type of Linux 5.10: BPF_MAP_TYPE_INODE_STORAGE = 28, the last entry of
 * enum bpf_map_type in include/uapi/linux/bpf.h at v5.10 (TASK_STORAGE, 29, came in 5.11).
 */
const MAX_MAP_TYPE_5_10 = 28;

function tool(cmd: string, args: string[]): { ok: true; out: string } | { ok: false; reason: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) return { ok: false, reason: `${cmd} not runnable: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `${cmd} failed: ${r.stderr.trim().split('\n')[0] ?? ''}` };
  return { ok: true, out: r.stdout };
}

const obj = bpfObjectPath();
const built = existsSync(obj);
const objdump = built ? tool('llvm-objdump', ['-d', obj]) : { ok: false as const, reason: `${BPF_OBJECT_PATH} not built` };
const btf = built ? tool('bpftool', ['-j', 'btf', 'dump', 'file', obj]) : { ok: false as const, reason: `${BPF_OBJECT_PATH} not built` };

const skipped = (t: string, r: { ok: boolean; reason?: string }) => (r.ok ? t : `${t} [skipped: ${r.reason}]`);

interface Call {
  readonly src: number;
  readonly imm: number;
}

/** every call instruction: opcode 0x85, src_reg 0 helper, 1 BPF-to-BPF, 2 kfunc */
function calls(text: string): Call[] {
  const out: Call[] = [];
  // "      12:	85 10 00 00 ff ff ff ff	call -1": the raw bytes, little endian
  const re = /^\s*\d+:\s+85 ([0-9a-f]{2}) [0-9a-f]{2} [0-9a-f]{2} ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})\s/gm;
  for (const m of text.matchAll(re)) {
    const imm = Buffer.from([m[2], m[3], m[4], m[5]].map((h) => parseInt(h!, 16))).readInt32LE(0);
    out.push({ src: parseInt(m[1]!, 16) >> 4, imm });
  }
  return out;
}

interface BtfType {
  readonly id: number;
  readonly kind: string;
  readonly name: string;
  readonly type_id?: number;
  readonly nr_elems?: number;
  readonly members?: readonly { name: string; type_id: number }[];
}

/** map type of every map definition struct (outer and inner): `type` is int (*)[TYPE] */
function mapTypes(json: string): Map<string, number> {
  const types = (JSON.parse(json) as { types: BtfType[] }).types;
  const byId = new Map(types.map((t) => [t.id, t]));
  const out = new Map<string, number>();
  for (const t of types) {
    if (t.kind !== 'STRUCT' || !t.members?.some((m) => m.name === 'max_entries')) continue;
    const ty = t.members.find((m) => m.name === 'type');
    const ptr = ty && byId.get(ty.type_id);
    const arr = ptr?.kind === 'PTR' ? byId.get(ptr.type_id!) : undefined;
    if (arr?.kind === 'ARRAY' && arr.nr_elems !== undefined) out.set(`${t.name}#${t.id}`, arr.nr_elems);
  }
  return out;
}

describe('tc program within Linux 5.10', () => {
  it.skipIf(!objdump.ok)(skipped('every helper it calls exists in 5.10; no kfunc calls', objdump), () => {
    const all = calls((objdump as { out: string }).out);
    const helpers = [...new Set(all.filter((c) => c.src === 0).map((c) => c.imm))].sort((a, b) => a - b);
    // the parser and the decision do call helpers: map lookups at least
    expect(helpers).toContain(1);
    for (const id of helpers) expect(id, `helper ${id}`).toBeLessThanOrEqual(MAX_HELPER_5_10);
    expect(all.filter((c) => c.src === 2), 'kfunc calls').toEqual([]);
    expect(all.every((c) => c.src === 0 || c.src === 1)).toBe(true);
  });

  it.skipIf(!btf.ok)(skipped('every map type it declares exists in 5.10', btf), () => {
    const types = mapTypes((btf as { out: string }).out);
    // pod_state, tries and its inner trie, ports_ext, conntrack, config
    expect(types.size).toBe(6);
    expect([...new Set(types.values())].sort((a, b) => a - b)).toEqual([1, 2, 9, 11, 12]); // HASH ARRAY LRU_HASH LPM_TRIE ARRAY_OF_MAPS
    for (const [name, type] of types) expect(type, name).toBeLessThanOrEqual(MAX_MAP_TYPE_5_10);
  });
});
