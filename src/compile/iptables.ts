/** Renders a chain table as iptables-restore input (`*filter` … `COMMIT`). */
import type { ChainRule, ChainTable } from './plan.js';

/** Calico's accept bit: set by a policy rule that allows, checked by RETURN-if-marked rules. */
export const PASS_MARK = 0x10000;
const MARK_HEX = `0x${PASS_MARK.toString(16)}`;

const PROTO_NAMES: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 1: 'icmp', 58: 'ipv6-icmp' };

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '_').slice(0, 255)}"`;
}

export function ruleArgs(r: ChainRule): string {
  const a: string[] = [];
  if (r.src) a.push('-s', r.src);
  if (r.dst) a.push('-d', r.dst);
  if (r.proto !== undefined) {
    const name = PROTO_NAMES[r.proto] ?? String(r.proto);
    a.push('-p', name);
    if (r.dport) {
      // the port match needs its module loaded explicitly for sctp (tcp/udp load implicitly)
      if (name === 'sctp') a.push('-m', 'sctp');
      a.push('--dport', r.dport[0] === r.dport[1] ? String(r.dport[0]) : `${r.dport[0]}:${r.dport[1]}`);
    }
  }
  if (r.established) a.push('-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED');
  if (r.marked) a.push('-m', 'mark', '--mark', `${MARK_HEX}/${MARK_HEX}`);
  if (r.comment) a.push('-m', 'comment', '--comment', quote(r.comment));
  switch (r.target.kind) {
    case 'ACCEPT': case 'DROP': case 'RETURN': a.push('-j', r.target.kind); break;
    case 'JUMP': a.push('-j', r.target.chain); break;
    case 'MARK': a.push('-j', 'MARK', '--set-xmark', `${MARK_HEX}/${MARK_HEX}`); break;
    case 'CLEARMARK': a.push('-j', 'MARK', '--set-xmark', `0x0/${MARK_HEX}`); break;
  }
  return a.join(' ');
}

/**
 * The table as iptables-restore (IPv4) or ip6tables-restore (IPv6) input. With `--noflush`
 * semantics in mind it declares only pfsim's own chains and one hook rule in FORWARD.
 */
export function renderIptables(t: ChainTable): string {
  const out: string[] = [`# pfsim NetworkPolicy chains (IPv${t.family}); load with ${t.family === 4 ? 'iptables' : 'ip6tables'}-restore`, '*filter'];
  out.push(':FORWARD ACCEPT [0:0]');
  for (const c of t.chains) out.push(`:${c.name} - [0:0]`);
  out.push(`-A FORWARD -m comment --comment ${quote('pfsim: NetworkPolicy enforcement')} -j ${t.entry}`);
  for (const c of t.chains) for (const r of c.rules) out.push(`-A ${c.name} ${ruleArgs(r)}`);
  out.push('COMMIT', '');
  return out.join('\n');
}
