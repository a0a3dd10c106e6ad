/** Flows files: JSON lines, one flow (the first packet of a connection) per line. */
import { readFileSync } from 'node:fs';
import { PfsimError } from '../errors.js';
import { parseIp, familyOf } from '../net/ip.js';
import type { PacketHeader } from '../engines/packet.js';
import type { Flow } from './types.js';

const PROTOS: Readonly<Record<string, number>> = { TCP: 6, UDP: 17, SCTP: 132, ICMP: 1, ICMPV6: 58 };
const PORTED = new Set([6, 17, 132]);

/** Checks one flow and turns it into a packet header; `where` prefixes error messages. */
export function flowToPacket(f: Flow, where: string): PacketHeader {
  const fail = (field: string, why: string): never => {
    throw new PfsimError('PFSIM_ERR_FLOWS', `${where}: field ${field}: ${why}`);
  };
  if (typeof f !== 'object' || f === null || Array.isArray(f)) fail('(line)', 'must be a JSON object');
  for (const k of Object.keys(f)) {
    if (!['src', 'dst', 'proto', 'sport', 'dport'].includes(k)) fail(k, 'unknown field (expected src, dst, proto, sport, dport)');
  }
  const addr = (field: 'src' | 'dst'): bigint => {
    const v = f[field];
    if (typeof v !== 'string') return fail(field, v === undefined ? 'is required' : 'must be a string');
    const ip = parseIp(v);
    if (ip === undefined) return fail(field, `"${v}" is not an IP address`);
    return ip;
  };
  const src = addr('src'), dst = addr('dst');
  if (familyOf(src) !== familyOf(dst)) fail('dst', 'must be of the same IP family as src');
  if (typeof f.proto !== 'string') return fail('proto', f.proto === undefined ? 'is required' : 'must be a string');
  let proto = PROTOS[f.proto.toUpperCase()];
  if (proto === undefined) return fail('proto', `unknown protocol "${f.proto}" (expected TCP, UDP, SCTP, ICMP)`);
  if (proto === 1 && familyOf(src) === 6) proto = 58; // ICMP between IPv6 addresses is ICMPv6
  const port = (field: 'sport' | 'dport'): number => {
    const v = f[field];
    if (v === undefined) {
      if (PORTED.has(proto!) && field === 'dport') return fail(field, `is required for ${f.proto}`);
      return 0;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) return fail(field, `must be an integer 0-65535, got ${JSON.stringify(v)}`);
    return PORTED.has(proto!) ? v : 0;
  };
  // a flow is the first packet of a connection: for TCP, its SYN
  return { src, dst, proto, sport: port('sport'), dport: port('dport'), flags: proto === 6 ? 0x02 : 0 };
}

/** Reads a flows file; blank lines and lines starting with # are skipped. */
export function readFlows(file: string): Flow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PfsimError('PFSIM_ERR_INPUT_READ', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const flows: Flow[] = [];
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new PfsimError('PFSIM_ERR_FLOWS', `${file}: line ${i + 1}: not JSON: ${(e as Error).message}`);
    }
    flowToPacket(v as Flow, `${file}: line ${i + 1}`);
    flows.push(v as Flow);
  });
  return flows;
}
