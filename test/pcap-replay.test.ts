/**
 * verdict --pcap and replay: every packet of a capture gets a verdict in file order with
 * conntrack carried; packets that cannot be judged come out as "skip" with their reason and
 * the totals add up (in = judged + skipped).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, ipPacket, LINKTYPE_ETHERNET } from '../src/capture/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { pfsim } from './helpers/cli.js';

let dir: string;
let cluster: string[];
let pcap: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pfsim-replay-'));
  expect(pfsim(['demo', '--out', join(dir, 'demo'), '--traces', join(dir, 'traces'), '--engines', 'chain,maps']).code).toBe(0);
  cluster = ['--cluster', join(dir, 'demo', 'cluster.yaml'), '--cluster', join(dir, 'demo', 'policies', 'demo-app-deny-all.yaml'),
    '--cluster', join(dir, 'demo', 'policies', 'demo-app-allow-client-one.yaml')];
  // client-one (allowed) and client-two (denied) each open a connection to demo-app:80, with an ARP frame between
  pcap = join(dir, 'mixed.pcap');
  const w = new PcapWriter(pcap, { linkType: LINKTYPE_ETHERNET });
  const tcp = (src: string, dst: string, sport: number, dport: number, tcpFlags: string[]) =>
    frame(LINKTYPE_ETHERNET, ipPacket({ src, dst, proto: 'TCP', sport, dport, tcpFlags: tcpFlags as never }));
  let t = 1_700_000_000_000_000_000n;
  const put = (f: Uint8Array) => { w.writePacket(t, f); t += 1000n; };
  put(tcp('10.244.0.11', '10.244.0.10', 40001, 80, ['SYN']));
  put(tcp('10.244.0.10', '10.244.0.11', 80, 40001, ['SYN', 'ACK']));
  const arp = new Uint8Array(42);
  arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06], 0);
  put(arp);
  put(tcp('10.244.0.12', '10.244.0.10', 40002, 80, ['SYN']));
  put(tcp('10.244.0.11', '10.244.0.10', 40001, 80, ['ACK']));
  w.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('verdict --pcap', () => {
  it('prints one JSON object per packet in file order, skips with their reason', () => {
    const r = pfsim(['verdict', ...cluster, '--pcap', pcap, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const v = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(v.map((x) => [x.index, x.verdict])).toEqual([[0, 'allow'], [1, 'allow'], [2, 'skip'], [3, 'deny'], [4, 'allow']]);
    expect(v[0]).toMatchObject({ engines: { chain: 'allow', maps: 'allow' }, agree: true, reason: 'allowed by default/demo-app-allow-client-one ingress', src: '10.244.0.11', dport: 80, proto: 'TCP' });
    expect(v[1].reason).toBe('established');
    expect(v[2]).toMatchObject({ verdict: 'skip', reason: 'not-ip' });
    expect(v[3].reason).toBe('default deny ingress default/demo-app-6d8f7c9b5-x7k2p');
  });

  it('a file that is no capture is one error line naming the file and byte offset', () => {
    const r = pfsim(['verdict', ...cluster, '--pcap', join(dir, 'demo', 'cluster.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^pfsim: ${join(dir, 'demo', 'cluster.yaml').replace(/[/.]/g, '\\$&')}: byte offset 0: `));
  });
});

describe('replay', () => {
  it('summarises per connection, denied first, with totals that add up', () => {
    const json = join(dir, 'summary.json');
    const r = pfsim(['replay', ...cluster, '--pcap', pcap, '--json', json]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/packets in 5 = judged 4 \+ skipped 1 \(not-ip 1\)/);
    const s = JSON.parse(readFileSync(json, 'utf8'));
    expect(s.packets).toBe(5);
    expect(s.judged + s.skipped).toBe(s.packets);
    expect(s.flows.map((f: { flow: string }) => f.flow)).toEqual([
      'TCP 10.244.0.12:40002 -> 10.244.0.10:80',
      'TCP 10.244.0.11:40001 -> 10.244.0.10:80',
    ]);
    expect(s.flows[1]).toMatchObject({ packets: 3, verdicts: { chain: 'allow', maps: 'allow' }, allowed: { chain: 3, maps: 3 } });
  });

  it('the demo trace: client-one gets through, the others are blocked, engines agree', () => {
    const r = pfsim(['replay', ...cluster, '--pcap', join(dir, 'traces', 'demo-curl-any.pcapng')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/packets in 112 = judged 112 \+ skipped 0/);
    expect(r.stdout).toMatch(/engines agree on every packet/);
    const http = r.stdout.split('\n').filter((l) => /:80 /.test(l));
    expect(http).toHaveLength(8);
    for (const l of http) expect(l).toMatch(/10\.244\.0\.11:|fd00:10:244::b\]:/.test(l) ? /allow 10\/10 +allow 10\/10/ : /^TCP .* deny /);
  });
});
