/** Renders map contents as a readable dump in the spirit of `bpftool map dump`. */
import type { Plan, PortEntry } from './plan.js';
import { PROTO_ANY } from './plan.js';

const NAMES: Readonly<Record<number, string>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP', [PROTO_ANY]: 'ANY' };

export function formatPortEntry(e: PortEntry): string {
  const proto = NAMES[e.proto] ?? String(e.proto);
  if (e.start === 0 && e.end === 65535) return `${proto}:ANY`;
  return e.start === e.end ? `${proto}:${e.start}` : `${proto}:${e.start}-${e.end}`;
}

export function renderMaps(plan: Plan): string {
  const out: string[] = [];
  const m = plan.maps;
  out.push(`map pod_state  type hash  key 16B  value 8B  entries ${m.podState.length}`);
  for (const s of m.podState) {
    const p = plan.pods[s.pod]!;
    out.push(`  key: ${s.ip.padEnd(18)} value: pod_id ${s.pod} ingress ${s.ingress ? 'ENFORCE' : 'ALLOW_ALL'} egress ${s.egress ? 'ENFORCE' : 'ALLOW_ALL'}   # ${p.namespace}/${p.name}`);
  }
  for (const t of m.tries) {
    const p = plan.pods[t.pod]!;
    out.push('');
    out.push(`map lpm_${t.dir}_${t.pod}  type lpm_trie  key 20B  value 200B  entries ${t.entries.length}   # ${t.dir} of ${p.namespace}/${p.name}`);
    for (const e of t.entries) {
      const v = m.values[e.value]!;
      const ports = v.length === 0 ? 'DENY (no entries)' : v.map(formatPortEntry).join(' ');
      const srcs = [...new Set(e.rules.map((r) => plan.rules[r]!.source))].join(', ');
      out.push(`  key: ${e.prefix.padEnd(22)} value: ${ports}${srcs ? `   # ${srcs}` : ''}`);
    }
  }
  out.push('');
  out.push(`map conntrack  type lru_hash  key 40B  value 16B  (filled at run time)`);
  return out.join('\n') + '\n';
}
