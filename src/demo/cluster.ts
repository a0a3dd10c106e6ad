/**
 * The built-in demo: the scenario of the seed article. Namespaces default and another-ns; in
 * default a Deployment demo-app (nginx on port 80, Service demo-app:80) and pods client-one,
 * client-two; in another-ns pods another-client-one, another-client-two. Five policies, all
 * selecting app: demo-app in default, ingress only. Dual-stack addresses, one node.
 */
import type { Flow } from '../verdict/types.js';

export const DEMO_NODE_IP = { v4: '172.18.0.2', v6: 'fc00:f853:ccd:e793::2' };

export interface DemoPod {
  readonly namespace: string;
  readonly name: string;
  readonly app: string;
  readonly v4: string;
  readonly v6: string;
}

export const DEMO_APP: DemoPod = { namespace: 'default', name: 'demo-app-6d8f7c9b5-x7k2p', app: 'demo-app', v4: '10.244.0.10', v6: 'fd00:10:244::a' };
export const DEMO_CLIENTS: readonly DemoPod[] = [
  { namespace: 'default', name: 'client-one', app: 'client-one', v4: '10.244.0.11', v6: 'fd00:10:244::b' },
  { namespace: 'default', name: 'client-two', app: 'client-two', v4: '10.244.0.12', v6: 'fd00:10:244::c' },
  { namespace: 'another-ns', name: 'another-client-one', app: 'another-client-one', v4: '10.244.0.13', v6: 'fd00:10:244::d' },
  { namespace: 'another-ns', name: 'another-client-two', app: 'another-client-two', v4: '10.244.0.14', v6: 'fd00:10:244::e' },
];

function podYaml(p: DemoPod, server: boolean): string {
  const container = server
    ? `  - name: nginx
    image: nginx:1.27
    ports:
    - name: http
      containerPort: 80
      protocol: TCP`
    : `  - name: client
    image: curlimages/curl:8.10.1
    command: ["sleep", "infinity"]`;
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  namespace: ${p.namespace}
  labels:
    app: ${p.app}
spec:
  nodeName: demo-node
  containers:
${container}
status:
  phase: Running
  podIP: ${p.v4}
  podIPs:
  - ip: ${p.v4}
  - ip: ${p.v6}
`;
}

/** The cluster state without policies: namespaces, node, workloads, service. */
export function demoClusterYaml(): string {
  const docs = [
    `apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    kubernetes.io/metadata.name: default
`,
    `apiVersion: v1
kind: Namespace
metadata:
  name: another-ns
  labels:
    kubernetes.io/metadata.name: another-ns
`,
    `apiVersion: v1
kind: Node
metadata:
  name: demo-node
status:
  addresses:
  - type: InternalIP
    address: ${DEMO_NODE_IP.v4}
  - type: InternalIP
    address: ${DEMO_NODE_IP.v6}
  - type: Hostname
    address: demo-node
`,
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo-app
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: demo-app
  template:
    metadata:
      labels:
        app: demo-app
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 80
`,
    `apiVersion: v1
kind: Service
metadata:
  name: demo-app
  namespace: default
spec:
  selector:
    app: demo-app
  ports:
  - port: 80
    targetPort: http
`,
    podYaml(DEMO_APP, true),
    ...DEMO_CLIENTS.map((c) => podYaml(c, false)),
  ];
  return docs.join('---\n');
}

function policy(name: string, from: string | undefined): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ${name}
  namespace: default
spec:
  podSelector:
    matchLabels:
      app: demo-app
  policyTypes:
  - Ingress
${from === undefined ? '' : `  ingress:
  - from:
${from}`}`;
}

export interface DemoPolicy {
  readonly name: string;
  readonly what: string;
  readonly yaml: string;
}

export const DEMO_POLICIES: readonly DemoPolicy[] = [
  { name: 'demo-app-deny-all', what: 'deny all ingress', yaml: policy('demo-app-deny-all', undefined) },
  {
    name: 'demo-app-allow-samens', what: 'allow from namespace default', yaml: policy('demo-app-allow-samens', `    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: default
`),
  },
  {
    name: 'demo-app-allow-client-one', what: 'allow from pod app=client-one', yaml: policy('demo-app-allow-client-one', `    - podSelector:
        matchLabels:
          app: client-one
`),
  },
  {
    name: 'demo-app-allow-another-ns', what: 'allow from namespace another-ns', yaml: policy('demo-app-allow-another-ns', `    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: another-ns
`),
  },
  {
    name: 'demo-app-allow-another-client-one', what: 'allow from pod app=another-client-one in namespace another-ns', yaml: policy('demo-app-allow-another-client-one', `    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: another-ns
      podSelector:
        matchLabels:
          app: another-client-one
`),
  },
];

/** The policy sets the demo walks through: nothing, deny-all alone, then deny-all plus each allow. */
export function demoPolicySets(): { name: string; policies: readonly DemoPolicy[] }[] {
  const [denyAll, ...allows] = DEMO_POLICIES;
  return [
    { name: 'no policy', policies: [] },
    { name: 'deny-all', policies: [denyAll!] },
    ...allows.map((a) => ({ name: `deny-all + ${a.name.replace(/^demo-app-/, '')}`, policies: [denyAll!, a] })),
  ];
}

/** One TCP connection to demo-app:80 per client and family (IPv4 then IPv6). */
export function demoFlows(): Flow[] {
  return DEMO_CLIENTS.flatMap((c, i) => [
    { src: c.v4, dst: DEMO_APP.v4, proto: 'TCP', sport: 40000 + i, dport: 80 },
    { src: c.v6, dst: DEMO_APP.v6, proto: 'TCP', sport: 40000 + i, dport: 80 },
  ]);
}

