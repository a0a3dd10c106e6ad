/**
 * NetworkPolicy v1 semantics, one rule per test: each test loads a small cluster as kubectl prints
 * it plus the policies under test, and asserts the expected verdict of every flow from both
 * production engines (judgeFlows) and the independent reference evaluator.
 */
import { describe, expect, it } from 'vitest';
import { clusterFromText } from '../src/cluster/load.js';
import type { Cluster } from '../src/cluster/model.js';
import { judgeFlows } from '../src/verdict/judge.js';
import type { Flow } from '../src/verdict/types.js';
import { referenceTrace, referenceVerdict, refPacketOf } from './reference/evaluator.js';

type Want = 'allow' | 'deny';
type Case = readonly [Flow, Want];

// addresses of the base cluster below
const NODE1 = '192.168.0.1';
const NODE2 = '192.168.0.2';
const NODE2_EXTERNAL = '198.51.100.2';
const WEB = '10.0.1.10'; // prod/web on node-1, also fd00::1:10
const WEB6 = 'fd00::1:10';
const API = '10.0.1.11'; // prod/api on node-1
const DB = '10.0.1.20'; // prod/db on node-2
const CLIENT = '10.0.2.10'; // dev/client on node-2, also fd00::2:10
const CLIENT6 = 'fd00::2:10';
const DEV_WEB = '10.0.2.20'; // dev/web on node-2
const TOOL = '10.0.3.10'; // other/tool on node-1
const GHOST = '10.0.4.10'; // ghost/pod: its namespace is not in the dump
const STRAY = '10.0.1.99'; // in the pod range but no pod's
const EXT = '203.0.113.7';
const EXT_10_5 = '10.0.5.9';
const EXT6 = '2001:db8::7';

/**
 * Two nodes, namespaces prod/dev (labelled) and other (printed without labels, as old dumps
 * do), pods with named container ports, a host-network pod and a finished pod with no IP.
 */
const BASE = `
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    kubernetes.io/hostname: node-1
status:
  addresses:
  - address: ${NODE1}
    type: InternalIP
  - address: node-1
    type: Hostname
---
apiVersion: v1
kind: Node
metadata:
  name: node-2
status:
  addresses:
  - address: ${NODE2}
    type: InternalIP
  - address: ${NODE2_EXTERNAL}
    type: ExternalIP
---
apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    kubernetes.io/metadata.name: prod
    team: a
    env: prod
---
apiVersion: v1
kind: Namespace
metadata:
  name: dev
  labels:
    kubernetes.io/metadata.name: dev
    team: b
    env: dev
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: prod
  labels:
    app: web
    tier: front
spec:
  nodeName: node-1
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
    - containerPort: 9090
      name: metrics
      protocol: TCP
  - name: dns-proxy
    image: coredns
    ports:
    - containerPort: 53
      name: dns
      protocol: UDP
status:
  phase: Running
  podIP: ${WEB}
  podIPs:
  - ip: ${WEB}
  - ip: ${WEB6}
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: prod
  labels:
    app: api
    tier: back
spec:
  nodeName: node-1
  containers:
  - name: api
    image: api
    ports:
    - containerPort: 8000
      name: http
      protocol: TCP
status:
  phase: Running
  podIP: ${API}
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: prod
  labels:
    app: db
    tier: back
spec:
  nodeName: node-2
  containers:
  - name: db
    image: postgres
    ports:
    - containerPort: 5432
      name: pg
    - containerPort: 7000
      name: rep
      protocol: SCTP
status:
  phase: Running
  podIP: ${DB}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: dev
  labels:
    app: client
spec:
  nodeName: node-2
  containers:
  - name: client
    image: curl
status:
  phase: Running
  podIP: ${CLIENT}
  podIPs:
  - ip: ${CLIENT}
  - ip: ${CLIENT6}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: dev
  labels:
    app: web
    tier: front
spec:
  nodeName: node-2
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 8080
      name: http
status:
  phase: Running
  podIP: ${DEV_WEB}
---
apiVersion: v1
kind: Pod
metadata:
  name: tool
  namespace: other
  labels:
    app: tool
spec:
  nodeName: node-1
  containers:
  - name: tool
    image: busybox
status:
  phase: Running
  podIP: ${TOOL}
---
apiVersion: v1
kind: Pod
metadata:
  name: pod
  namespace: ghost
  labels:
    app: ghost
spec:
  nodeName: node-1
  containers:
  - name: ghost
    image: busybox
status:
  phase: Running
  podIP: ${GHOST}
---
apiVersion: v1
kind: Pod
metadata:
  name: agent
  namespace: prod
  labels:
    app: web
spec:
  hostNetwork: true
  nodeName: node-2
  containers:
  - name: agent
    image: agent
    ports:
    - containerPort: 8080
      hostPort: 8080
      name: http
status:
  phase: Running
  podIP: ${NODE2}
  podIPs:
  - ip: ${NODE2}
---
apiVersion: v1
kind: Pod
metadata:
  name: job
  namespace: prod
  labels:
    app: web
spec:
  nodeName: node-1
  restartPolicy: Never
  containers:
  - name: job
    image: busybox
status:
  phase: Succeeded
`;

function cluster(policies: string): Cluster {
  return clusterFromText('semantics.yaml', `${BASE}---\n${policies}`);
}

function flow(proto: string, src: string, dst: string, dport?: number, sport = 40000): Flow {
  return proto.toUpperCase().startsWith('ICMP') ? { src, dst, proto } : { src, dst, proto, sport, dport: dport ?? 0 };
}
const tcp = (src: string, dst: string, dport: number) => flow('TCP', src, dst, dport);
const udp = (src: string, dst: string, dport: number) => flow('UDP', src, dst, dport);
const sctp = (src: string, dst: string, dport: number) => flow('SCTP', src, dst, dport);
const icmp = (src: string, dst: string) => flow(src.includes(':') ? 'ICMPv6' : 'ICMP', src, dst);

function show(f: Flow): string {
  return `${f.proto} ${f.src}${f.sport !== undefined ? `:${f.sport}` : ''} -> ${f.dst}${f.dport !== undefined ? `:${f.dport}` : ''}`;
}

/**
 * Asserts every flow's expected verdict from the reference, from each engine and from the
 * combined verdict; lists are compared whole so a failure shows every flow at once.
 */
function expectVerdicts(c: Cluster, cases: readonly Case[], stateful = false): void {
  const flows = cases.map(([f]) => f);
  const want = cases.map(([f, w]) => `${show(f)} = ${w}`);
  const refVerdicts = stateful
    ? referenceTrace(c, flows.map(refPacketOf))
    : flows.map((f) => referenceVerdict(c, refPacketOf(f)));
  expect(refVerdicts.map((v, i) => `${show(flows[i]!)} = ${v}`), 'reference evaluator').toEqual(want);
  const got = judgeFlows(c, flows, { engines: ['chain', 'maps'], stateful });
  expect(got.map((v) => v.index)).toEqual(flows.map((_, i) => i));
  for (const engine of ['chain', 'maps']) {
    expect(got.map((v, i) => `${show(flows[i]!)} = ${v.engines[engine]}`), `engine ${engine}`).toEqual(want);
  }
  expect(got.map((v, i) => `${show(flows[i]!)} = ${v.verdict}`), 'combined verdict').toEqual(want);
  expect(got.every((v) => v.agree), 'engines agree').toBe(true);
}

describe('isolation', () => {
  it('isolation is per direction: only pods selected by a policy naming that direction', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-egress-only
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Egress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-ingress-only
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes:
  - Ingress
  egress:
  - {}
`);
    expectVerdicts(c, [
      [tcp(WEB, DB, 5432), 'deny'], // web: egress isolated, no egress rule
      [tcp(WEB, EXT, 443), 'deny'],
      [tcp(CLIENT, WEB, 8080), 'allow'], // web: not isolated for ingress
      [tcp(CLIENT, API, 8000), 'deny'], // api: ingress isolated
      [tcp(API, EXT, 443), 'allow'], // api: egress rules listed, but Egress is not in policyTypes
      [tcp(DB, CLIENT, 80), 'allow'], // db: selected by nothing
    ]);
  });

  it('a policy selects pods of its own namespace only', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Ingress
  - Egress
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'deny'],
      [tcp(WEB, CLIENT, 80), 'deny'],
      [tcp(CLIENT, DEV_WEB, 8080), 'allow'], // dev/web is app=web too, but in dev
      [tcp(DEV_WEB, EXT, 443), 'allow'],
    ]);
  });

  it('absent policyTypes means Ingress, plus Egress when spec.egress has a rule', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  egress:
  - to:
    - ipBlock:
        cidr: 203.0.113.0/24
`);
    expectVerdicts(c, [
      [tcp(WEB, EXT, 443), 'allow'],
      [tcp(WEB, DB, 5432), 'deny'],
      [tcp(CLIENT, WEB, 8080), 'deny'],
      [tcp(EXT, WEB, 8080), 'deny'],
    ]);
  });

  it('absent policyTypes with egress: [] does not isolate egress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  egress: []
`);
    expectVerdicts(c, [
      [tcp(WEB, DB, 5432), 'allow'],
      [tcp(WEB, EXT, 443), 'allow'],
      [tcp(CLIENT, WEB, 8080), 'deny'],
    ]);
  });

  it('ingress: [] with Ingress isolation denies all ingress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress: []
  policyTypes:
  - Ingress
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'deny'],
      [udp(API, WEB, 53), 'deny'],
      [icmp(EXT, WEB), 'deny'],
      [tcp(CLIENT6, WEB6, 8080), 'deny'],
      [tcp(CLIENT, API, 8000), 'allow'],
    ]);
  });

  it('absent ingress with Ingress isolation denies all ingress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: prod
spec:
  podSelector: {}
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'deny'],
      [tcp(WEB, DB, 5432), 'deny'],
      [sctp(EXT, DB, 7000), 'deny'],
      [tcp(WEB, CLIENT, 80), 'allow'], // dev is not selected; prod egress is not isolated
    ]);
  });

  it('egress: [] with Egress isolation denies all egress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-egress
  namespace: dev
spec:
  podSelector: {}
  egress: []
  policyTypes:
  - Egress
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'deny'],
      [udp(CLIENT, EXT, 53), 'deny'],
      [icmp(CLIENT6, EXT6), 'deny'],
      [tcp(WEB, CLIENT, 80), 'allow'],
    ]);
  });

  it('ingress: [{}] allows all ingress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - {}
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [udp(EXT, WEB, 9999), 'allow'],
      [sctp(STRAY, WEB, 1), 'allow'],
      [icmp(EXT, WEB), 'allow'],
      [tcp(EXT6, WEB6, 443), 'allow'],
    ]);
  });

  it('egress: [{}] allows all egress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-egress
  namespace: dev
spec:
  podSelector: {}
  egress:
  - {}
  policyTypes:
  - Egress
`);
    expectVerdicts(c, [
      [tcp(CLIENT, EXT, 443), 'allow'],
      [udp(CLIENT6, EXT6, 53), 'allow'],
      [icmp(DEV_WEB, DB), 'allow'],
    ]);
  });

  it('policies are a union: one allowing policy is enough', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: from-client
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          env: dev
      podSelector:
        matchLabels:
          app: client
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: from-api
  namespace: prod
spec:
  podSelector:
    matchLabels:
      tier: front
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: api
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: prod
spec:
  podSelector: {}
  policyTypes:
  - Ingress
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [tcp(API, WEB, 8080), 'allow'],
      [tcp(DB, WEB, 8080), 'deny'],
      [tcp(DEV_WEB, WEB, 8080), 'deny'],
      [tcp(CLIENT, API, 8000), 'deny'], // api is only selected by deny-all
    ]);
  });

  it('a connection needs both the source pod egress and the destination pod ingress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: client-egress
  namespace: dev
spec:
  podSelector:
    matchLabels:
      app: client
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          team: a
  policyTypes:
  - Egress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-ingress
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          app: tool
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-ingress
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: api
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: b
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'deny'], // egress allows, web ingress does not
      [tcp(CLIENT, API, 8000), 'allow'], // both allow
      [tcp(DEV_WEB, API, 8000), 'allow'], // dev/web is not egress-isolated
      [tcp(CLIENT, TOOL, 80), 'deny'], // tool ingress is open, client egress does not allow
      [tcp(TOOL, WEB, 8080), 'allow'],
    ]);
  });
});

describe('peers', () => {
  it('podSelector and namespaceSelector in one peer are ANDed, separate peers are ORed', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: anded
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: b
      podSelector:
        matchLabels:
          app: client
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ored
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: b
    - podSelector:
        matchLabels:
          app: client
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'], // team=b AND app=client
      [tcp(DEV_WEB, WEB, 8080), 'deny'], // team=b but not app=client
      [tcp(API, WEB, 8080), 'deny'],
      [tcp(CLIENT, DB, 5432), 'allow'], // team=b
      [tcp(DEV_WEB, DB, 5432), 'allow'], // team=b
      [tcp(API, DB, 5432), 'deny'], // prod, not app=client
      [tcp(TOOL, DB, 5432), 'deny'],
    ]);
  });

  it('absent namespaceSelector means the policy own namespace', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: from-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
`);
    expectVerdicts(c, [
      [tcp(WEB, DB, 5432), 'allow'],
      [tcp(DEV_WEB, DB, 5432), 'deny'], // app=web, but in dev
      [tcp(API, DB, 5432), 'deny'],
    ]);
  });

  it('namespaceSelector: {} means every namespace', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: any-namespace-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          app: web
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: any-pod
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: api
  ingress:
  - from:
    - namespaceSelector: {}
`);
    expectVerdicts(c, [
      [tcp(WEB, DB, 5432), 'allow'],
      [tcp(DEV_WEB, DB, 5432), 'allow'],
      [tcp(CLIENT, DB, 5432), 'deny'],
      [tcp(CLIENT, API, 8000), 'allow'],
      [tcp(TOOL, API, 8000), 'allow'],
      [tcp(GHOST, API, 8000), 'allow'], // a namespace missing from the dump still exists
      [tcp(EXT, API, 8000), 'deny'],
    ]);
  });

  it('pod peers never match addresses that are no pod', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: all-pods
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - podSelector: {}
    - namespaceSelector: {}
  egress:
  - to:
    - podSelector: {}
      namespaceSelector: {}
`);
    expectVerdicts(c, [
      [tcp(API, WEB, 8080), 'allow'],
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [tcp(CLIENT6, WEB6, 8080), 'allow'],
      [tcp(STRAY, WEB, 8080), 'deny'], // in the pod range, but no pod has it
      [tcp(EXT, WEB, 8080), 'deny'],
      [tcp(EXT6, WEB6, 8080), 'deny'],
      [tcp(WEB, DB, 5432), 'allow'],
      [tcp(WEB, STRAY, 80), 'deny'],
      [tcp(WEB, EXT, 443), 'deny'],
    ]);
  });

  it('hostNetwork pods are not selectable: neither isolated nor matched by pod peers', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: prod
spec:
  podSelector: {}
  policyTypes:
  - Ingress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-from-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
`);
    expectVerdicts(c, [
      // prod/agent (hostNetwork, app=web, on node-2) has node-2's address: not a pod to policies
      [tcp(CLIENT, NODE2, 8080), 'allow'],
      [tcp(NODE2, WEB, 8080), 'deny'], // web runs on node-1, and the agent is not an app=web peer
    ]);
  });
});

describe('label selectors', () => {
  it('matchLabels needs every listed label', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: front-web
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
          tier: front
`);
    expectVerdicts(c, [
      [tcp(WEB, DB, 5432), 'allow'],
      [tcp(API, DB, 5432), 'deny'],
    ]);
  });

  it('matchExpressions In and NotIn; NotIn matches objects lacking the key', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: in
  namespace: prod
spec:
  podSelector:
    matchExpressions:
    - key: app
      operator: In
      values:
      - web
      - api
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchExpressions:
        - key: tier
          operator: NotIn
          values:
          - back
`);
    expectVerdicts(c, [
      [tcp(DB, WEB, 8080), 'deny'], // tier=back
      [tcp(API, WEB, 8080), 'deny'], // tier=back
      [tcp(DEV_WEB, WEB, 8080), 'allow'], // tier=front
      [tcp(CLIENT, API, 8000), 'allow'], // no tier label: NotIn matches
      [tcp(EXT, DB, 5432), 'allow'], // db is not In (web, api): not selected
    ]);
  });

  it('matchExpressions Exists and DoesNotExist; DoesNotExist matches objects lacking the key', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: exists
  namespace: prod
spec:
  podSelector:
    matchExpressions:
    - key: tier
      operator: Exists
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchExpressions:
        - key: tier
          operator: DoesNotExist
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'], // client has no tier
      [tcp(TOOL, DB, 5432), 'allow'],
      [tcp(DEV_WEB, WEB, 8080), 'deny'], // dev/web has a tier
      [tcp(API, DB, 5432), 'deny'],
    ]);
  });

  it('matchExpressions on namespace labels, ANDed with matchLabels', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ns-expr
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: b
        matchExpressions:
        - key: env
          operator: In
          values:
          - dev
          - staging
    - namespaceSelector:
        matchExpressions:
        - key: team
          operator: DoesNotExist
`);
    expectVerdicts(c, [
      [tcp(CLIENT, DB, 5432), 'allow'], // team=b, env=dev
      [tcp(TOOL, DB, 5432), 'allow'], // other has no team label
      [tcp(GHOST, DB, 5432), 'allow'], // ghost has no labels beyond its name
      [tcp(WEB, DB, 5432), 'deny'], // team=a
    ]);
  });

  it('the kubernetes.io/metadata.name namespace label is present even when the dump lacks it', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: by-name
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: other
    - namespaceSelector:
        matchExpressions:
        - key: kubernetes.io/metadata.name
          operator: In
          values:
          - ghost
`);
    expectVerdicts(c, [
      [tcp(TOOL, DB, 5432), 'allow'], // Namespace other is printed without labels
      [tcp(GHOST, DB, 5432), 'allow'], // Namespace ghost is not printed at all
      [tcp(CLIENT, DB, 5432), 'deny'],
      [tcp(WEB, DB, 5432), 'deny'],
    ]);
  });
});

describe('ipBlock', () => {
  it('except removes addresses from that peer only: another rule still allows them (0.0.0.0/0 UDP 53 and 10.0.0.0/16 except 10.0.5.0/24 TCP 80)', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: blocks
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - ipBlock:
        cidr: 0.0.0.0/0
    ports:
    - port: 53
      protocol: UDP
  - from:
    - ipBlock:
        cidr: 10.0.0.0/16
        except:
        - 10.0.5.0/24
    ports:
    - port: 80
      protocol: TCP
`);
    expectVerdicts(c, [
      [udp(EXT_10_5, WEB, 53), 'allow'],
      [tcp(EXT_10_5, WEB, 80), 'deny'],
      [tcp('10.0.6.1', WEB, 80), 'allow'],
      [tcp(EXT, WEB, 80), 'deny'],
      [udp(EXT, WEB, 53), 'allow'],
    ]);
  });

  it('except removes addresses from that peer only: another peer of the same rule still allows them', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: peers
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.0.0/16
        except:
        - 10.0.2.0/24
        - 10.0.5.0/24
    - ipBlock:
        cidr: 10.0.5.8/29
    - podSelector:
        matchLabels:
          app: client
      namespaceSelector: {}
`);
    expectVerdicts(c, [
      [tcp(EXT_10_5, WEB, 8080), 'allow'], // 10.0.5.9 is in the second block
      [tcp('10.0.5.1', WEB, 8080), 'deny'],
      [tcp(CLIENT, WEB, 8080), 'allow'], // excepted, but the pod peer matches
      [tcp(DEV_WEB, WEB, 8080), 'deny'], // excepted, and not app=client
      [tcp(TOOL, WEB, 8080), 'allow'],
    ]);
  });

  it('except removes addresses from that peer only: another policy still allows them', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: wide
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.0.0/16
        except:
        - 10.0.5.0/24
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: narrow
  namespace: prod
spec:
  podSelector:
    matchLabels:
      tier: front
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.5.9/32
`);
    expectVerdicts(c, [
      [tcp(EXT_10_5, WEB, 8080), 'allow'],
      [tcp('10.0.5.10', WEB, 8080), 'deny'],
      [tcp(STRAY, WEB, 8080), 'allow'],
    ]);
  });

  it('ipBlock applies to pod addresses too', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: from-dev-range
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.2.0/24
        except:
        - 10.0.2.20/32
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.1.0/24
`);
    expectVerdicts(c, [
      [tcp(CLIENT, DB, 5432), 'allow'],
      [tcp(DEV_WEB, DB, 5432), 'deny'],
      [tcp(WEB, DB, 5432), 'deny'],
      [tcp(DB, WEB, 8080), 'allow'],
      [tcp(DB, CLIENT, 80), 'deny'],
    ]);
  });

  it('IPv4 and IPv6 blocks each match only their own family (::/0 does not match IPv4 sources)', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: v6-only
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - ipBlock:
        cidr: ::/0
        except:
        - fd00::2:0/112
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: v4-only
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - ipBlock:
        cidr: 0.0.0.0/0
`);
    expectVerdicts(c, [
      [tcp(EXT, WEB, 8080), 'deny'],
      [tcp(CLIENT, WEB, 8080), 'deny'],
      [tcp(EXT6, WEB6, 8080), 'allow'],
      [tcp(CLIENT6, WEB6, 8080), 'deny'], // excepted
      [icmp(EXT6, WEB6), 'allow'],
      [tcp(EXT, DB, 5432), 'allow'],
      [tcp(CLIENT, DB, 5432), 'allow'],
    ]);
  });

  it('pod peers match a dual-stack pod by either of its addresses', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: from-client
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: dev
      podSelector:
        matchLabels:
          app: client
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [tcp(CLIENT6, WEB6, 8080), 'allow'],
      [tcp(EXT6, WEB6, 8080), 'deny'],
    ]);
  });
});

describe('ports', () => {
  it('protocol defaults to TCP (port without protocol)', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: port-only
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - ports:
    - port: 8080
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [udp(CLIENT, WEB, 8080), 'deny'],
      [sctp(CLIENT, WEB, 8080), 'deny'],
      [tcp(CLIENT, WEB, 8081), 'deny'],
      [icmp(CLIENT, WEB), 'deny'],
    ]);
  });

  it('protocol without port means every port of that protocol', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: all-udp
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - ports:
    - protocol: UDP
`);
    expectVerdicts(c, [
      [udp(CLIENT, WEB, 53), 'allow'],
      [udp(CLIENT, WEB, 1), 'allow'],
      [udp(EXT, WEB, 65535), 'allow'],
      [tcp(CLIENT, WEB, 53), 'deny'],
      [sctp(CLIENT, WEB, 53), 'deny'],
    ]);
  });

  it('numeric ports match exactly; TCP, UDP and SCTP entries each match their own protocol', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: numeric
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
  ingress:
  - from:
    - namespaceSelector: {}
    ports:
    - protocol: TCP
      port: 5432
    - protocol: UDP
      port: 5353
    - protocol: SCTP
      port: 7000
`);
    expectVerdicts(c, [
      [tcp(CLIENT, DB, 5432), 'allow'],
      [tcp(CLIENT, DB, 5433), 'deny'],
      [udp(CLIENT, DB, 5432), 'deny'],
      [udp(CLIENT, DB, 5353), 'allow'],
      [tcp(CLIENT, DB, 5353), 'deny'],
      [sctp(CLIENT, DB, 7000), 'allow'],
      [tcp(CLIENT, DB, 7000), 'deny'],
      [sctp(CLIENT, DB, 5432), 'deny'],
    ]);
  });

  it('ICMP never matches a ports entry but is allowed by a rule without ports', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: icmp
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: b
    ports:
    - protocol: TCP
    - protocol: UDP
    - protocol: SCTP
  - from:
    - podSelector: {}
`);
    expectVerdicts(c, [
      [icmp(CLIENT, WEB), 'deny'], // only the ported rule admits dev
      [icmp(CLIENT6, WEB6), 'deny'],
      [tcp(CLIENT, WEB, 1), 'allow'],
      [icmp(API, WEB), 'allow'],
    ]);
  });

  it('named ports resolve against the destination pod on ingress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: http
  namespace: prod
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: http
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'], // web: http=8080
      [tcp(CLIENT, WEB, 8000), 'deny'],
      [tcp(CLIENT, API, 8000), 'allow'], // api: http=8000
      [tcp(CLIENT, API, 8080), 'deny'],
      [tcp(CLIENT, DB, 8080), 'deny'], // db has no port named http
      [tcp(CLIENT, DB, 5432), 'deny'],
    ]);
  });

  it('named ports need both name and protocol to match, else the entry matches nothing', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: named-protocols
  namespace: prod
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: dns
      protocol: UDP
    - port: metrics
      protocol: UDP
    - port: rep
      protocol: SCTP
    - port: pg
`);
    expectVerdicts(c, [
      [udp(CLIENT, WEB, 53), 'allow'], // dns is UDP 53 on web
      [tcp(CLIENT, WEB, 53), 'deny'],
      [udp(CLIENT, WEB, 9090), 'deny'], // metrics is TCP, the entry asks UDP
      [tcp(CLIENT, WEB, 9090), 'deny'],
      [sctp(CLIENT, DB, 7000), 'allow'],
      [tcp(CLIENT, DB, 5432), 'allow'], // pg has no protocol: TCP on both sides
      [udp(CLIENT, DB, 5432), 'deny'],
    ]);
  });

  it('named ports resolve against the destination pod on egress', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: client-http
  namespace: dev
spec:
  podSelector:
    matchLabels:
      app: client
  egress:
  - to:
    - namespaceSelector: {}
    - ipBlock:
        cidr: 0.0.0.0/0
    ports:
    - port: http
      protocol: TCP
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [tcp(CLIENT, API, 8000), 'allow'],
      [tcp(CLIENT, API, 8080), 'deny'],
      [tcp(CLIENT, DEV_WEB, 8080), 'allow'],
      [tcp(CLIENT, DB, 8080), 'deny'], // db has no port named http
      [tcp(CLIENT, EXT, 8080), 'deny'], // not a pod: the name resolves to nothing
      [tcp(CLIENT, NODE2, 8080), 'allow'], // the client's own node is always reachable
      [tcp(CLIENT, NODE1, 8080), 'deny'], // another node's address is no pod: the name resolves to nothing
    ]);
  });

  it('endPort makes an inclusive range (port, endPort and endPort+1)', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: range
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - ports:
    - port: 8000
      endPort: 8080
    - protocol: UDP
      port: 30000
      endPort: 30000
`);
    expectVerdicts(c, [
      [tcp(CLIENT, WEB, 7999), 'deny'],
      [tcp(CLIENT, WEB, 8000), 'allow'],
      [tcp(CLIENT, WEB, 8042), 'allow'],
      [tcp(CLIENT, WEB, 8080), 'allow'],
      [tcp(CLIENT, WEB, 8081), 'deny'],
      [udp(CLIENT, WEB, 8000), 'deny'],
      [udp(CLIENT, WEB, 29999), 'deny'],
      [udp(CLIENT, WEB, 30000), 'allow'],
      [udp(CLIENT, WEB, 30001), 'deny'],
    ]);
  });
});

describe('nodes', () => {
  it('traffic from the node own IP to its pods is allowed even under deny-all', () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: prod
spec:
  podSelector: {}
  policyTypes:
  - Ingress
  - Egress
`);
    expectVerdicts(c, [
      [tcp(NODE1, WEB, 8080), 'allow'], // web runs on node-1
      [tcp(NODE2, WEB, 8080), 'deny'], // another node's address
      [tcp(NODE2, DB, 5432), 'allow'], // db runs on node-2
      [tcp(NODE2_EXTERNAL, DB, 5432), 'deny'], // only InternalIP counts
      [tcp(WEB, NODE1, 10250), 'allow'],
      [tcp(WEB, NODE2, 10250), 'deny'],
      [udp(DB, NODE2, 53), 'allow'],
      [tcp(CLIENT, WEB, 8080), 'deny'],
    ]);
  });
});

describe('stateful', () => {
  const twoWay = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-from-client
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          app: client
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-dev
  namespace: dev
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-db
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: db
`;

  it('an allowed connection reply (reversed 5-tuple) passes even when policy denies that direction', () => {
    const c = cluster(twoWay);
    expectVerdicts(c, [
      [flow('TCP', CLIENT, WEB, 8080, 40000), 'allow'],
      [flow('TCP', WEB, CLIENT, 40000, 8080), 'allow'], // reply
      [flow('TCP', CLIENT, WEB, 8080, 40000), 'allow'],
      [flow('TCP', WEB, CLIENT, 40001, 8080), 'deny'], // another source port: a new connection
      [flow('UDP', WEB, CLIENT, 40000, 8080), 'deny'], // another protocol: a new connection
    ], true);
  });

  it('a denied connection creates no state: its reply is judged on its own', () => {
    const c = cluster(twoWay);
    expectVerdicts(c, [
      [flow('TCP', CLIENT, DB, 5432, 40000), 'deny'],
      [flow('TCP', DB, CLIENT, 40000, 5432), 'deny'], // client denies all ingress
      [flow('TCP', EXT, DB, 5432, 40000), 'deny'],
      [flow('TCP', DB, EXT, 40000, 5432), 'allow'], // db egress is open: a new, allowed connection
      [flow('TCP', EXT, DB, 5432, 40000), 'allow'], // now the reply of that connection
    ], true);
  });

  it('stateless judging ignores earlier packets', () => {
    const c = cluster(twoWay);
    expectVerdicts(c, [
      [flow('TCP', CLIENT, WEB, 8080, 40000), 'allow'],
      [flow('TCP', WEB, CLIENT, 40000, 8080), 'deny'],
    ], false);
  });
});
