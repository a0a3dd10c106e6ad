/**
 * Conntrack follows netfilter's TCP tracker: replies of a denied connection open nothing. A
 * SYN-ACK, FIN or RST without an entry is judged on its own and never starts tracking, while a
 * SYN or a plain ACK (mid-stream pickup) of an allowed connection does.
 */
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import { compile } from '../src/compile/index.js';
import { createEngine } from '../src/engines/index.js';
import { OUT_WORDS, verdictName, type EngineName } from '../src/engines/engine.js';
import { packetBatch, writePacket, PKT_F_ACK, PKT_F_SYN, PKT_F_FIN, PKT_F_RST, type PacketHeader } from '../src/engines/packet.js';
import { parseIp } from '../src/net/ip.js';
import { referenceTrace } from './reference/evaluator.js';

// server is ingress-isolated and allows nobody; client is egress-isolated and allows only the server's port 80
const YAML = `apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, labels: {app: server}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-deny, namespace: default}
spec: {podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-out, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress, Ingress]
  egress: [{ports: [{port: 80}]}]
`;

const S = parseIp('10.0.0.1')!, C = parseIp('10.0.0.2')!;
const c2s = (flags: number): PacketHeader => ({ src: C, dst: S, proto: 6, sport: 40000, dport: 80, flags });
const s2c = (flags: number): PacketHeader => ({ src: S, dst: C, proto: 6, sport: 80, dport: 40000, flags });

function run(engine: EngineName, yaml: string, packets: PacketHeader[]): string[] {
  const e = createEngine(engine, compile(clusterFromText('t.yaml', yaml)), { stateful: true });
  const pkts = packetBatch(packets.length);
  packets.forEach((p, i) => writePacket(pkts, i, p));
  const out = new Uint32Array(packets.length * OUT_WORDS);
  e.classify(pkts, packets.length, out);
  e.close();
  return packets.map((_, i) => verdictName(out[i * OUT_WORDS]!));
}

const ref = (yaml: string, packets: PacketHeader[]) =>
  referenceTrace(clusterFromText('t.yaml', yaml), packets.map((p) => ({ src: p.src, dst: p.dst, proto: p.proto, sport: p.sport, dport: p.dport, flags: p.flags })));

describe('conntrack follows the TCP tracker', () => {
  for (const engine of ['chain', 'maps'] as const) {
    it(`${engine}: replies of a denied connection do not open it`, () => {
      // the client's SYN passes its egress but not the server's ingress; the client is
      // ingress-isolated too, so the server's SYN-ACK and RST are denied on their own; nothing
      // was ever opened, so the client's later ACK is still denied
      const trace = [c2s(PKT_F_SYN), s2c(PKT_F_SYN | PKT_F_ACK), c2s(PKT_F_ACK), s2c(PKT_F_RST)];
      expect(run(engine, YAML, trace)).toEqual(['deny', 'deny', 'deny', 'deny']);
      expect(run(engine, YAML, trace)).toEqual(ref(YAML, trace));
    });

    it(`${engine}: a SYN-ACK allowed on its own does not open the connection for the denied side`, () => {
      // drop the client's ingress isolation: the SYN-ACK is allowed as a packet of its own,
      // but it cannot open the connection, so the client's next ACK is judged again and denied
      const open = YAML.replace('policyTypes: [Egress, Ingress]', 'policyTypes: [Egress]');
      const trace = [c2s(PKT_F_SYN), s2c(PKT_F_SYN | PKT_F_ACK), c2s(PKT_F_ACK), s2c(PKT_F_FIN | PKT_F_ACK), c2s(PKT_F_ACK)];
      expect(run(engine, open, trace)).toEqual(['deny', 'allow', 'deny', 'allow', 'deny']);
      expect(run(engine, open, trace)).toEqual(ref(open, trace));
    });

    it(`${engine}: an allowed SYN opens both directions; a plain ACK picks up a connection mid-stream`, () => {
      const allow = YAML.replace('spec: {podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress]}',
        'spec: {podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress], ingress: [{}]}');
      // the client is ingress-isolated: the server's packets pass only as replies
      expect(run(engine, allow, [c2s(PKT_F_SYN), s2c(PKT_F_SYN | PKT_F_ACK), c2s(PKT_F_ACK), s2c(PKT_F_ACK)])).toEqual(['allow', 'allow', 'allow', 'allow']);
      expect(run(engine, allow, [c2s(PKT_F_ACK), s2c(PKT_F_ACK)])).toEqual(['allow', 'allow']);
      // a FIN first does not pick up: the server's answer is judged on its own and denied
      expect(run(engine, allow, [c2s(PKT_F_FIN | PKT_F_ACK), s2c(PKT_F_ACK)])).toEqual(['allow', 'deny']);
      expect(run(engine, allow, [c2s(PKT_F_FIN | PKT_F_ACK), s2c(PKT_F_ACK)])).toEqual(ref(allow, [c2s(PKT_F_FIN | PKT_F_ACK), s2c(PKT_F_ACK)]));
    });
  }
});
