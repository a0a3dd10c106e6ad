/**
 * The loader reads kubectl output (YAML multi-document, JSON, `kind: List`, files and
 * directories) into a validated Cluster, and names file, document and field on bad input.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterFromText, loadCluster } from '../src/cluster/load.js';
import { METADATA_NAME_LABEL, type Cluster } from '../src/cluster/model.js';
import { PfsimError, type PfsimErrorCode } from '../src/errors.js';
import { parseIp } from '../src/net/ip.js';

const tmpRoot = mkdtempSync(join(tmpdir(), 'pfsim-load-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

let dirCount = 0;
/** Writes files (relative path → text) into a fresh temporary directory and returns it. */
function writeTree(files: Record<string, string>): string {
  const dir = join(tmpRoot, `t${dirCount++}`);
  for (const [rel, text] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return dir;
}

function ip(s: string): bigint {
  const v = parseIp(s);
  if (v === undefined) throw new Error(`bad test address ${s}`);
  return v;
}

/** Asserts `fn` throws a PfsimError with `code` and a one-line message containing every part. */
function expectLoadError(fn: () => unknown, code: PfsimErrorCode, parts: readonly string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(PfsimError);
  const err = caught as PfsimError;
  expect(err.code).toBe(code);
  expect(err.message).not.toMatch(/[\r\n]/);
  for (const part of parts) expect(err.message).toContain(part);
}

const NAMESPACE_PROD = `apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    team: a
`;

const POD_WEB = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: prod
  labels:
    app: web
spec:
  nodeName: node-1
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 8080
      name: http
    - containerPort: 53
      name: dns
      protocol: UDP
status:
  phase: Running
  podIP: 10.0.1.10
  podIPs:
  - ip: 10.0.1.10
  - ip: fd00::10
`;

const NODE_1 = `apiVersion: v1
kind: Node
metadata:
  name: node-1
status:
  addresses:
  - address: 192.168.0.1
    type: InternalIP
  - address: 198.51.100.1
    type: ExternalIP
  - address: node-1
    type: Hostname
  - address: fd00:ff::1
    type: InternalIP
`;

const POLICY_WEB = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
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
    - namespaceSelector:
        matchLabels:
          team: b
      podSelector: {}
    ports:
    - port: 8080
    - protocol: UDP
      port: http
    - protocol: SCTP
      port: 7000
      endPort: 7010
  egress:
  - to:
    - podSelector:
        matchExpressions:
        - key: tier
          operator: NotIn
          values: [db]
`;

function expectWebCluster(c: Cluster): void {
  expect(c.namespaces.map((n) => n.name)).toEqual(['prod']);
  expect(c.namespaces[0]!.labels).toEqual({ team: 'a', [METADATA_NAME_LABEL]: 'prod' });
  expect(c.pods).toHaveLength(1);
  const web = c.pods[0]!;
  expect(web).toMatchObject({ namespace: 'prod', name: 'web', labels: { app: 'web' }, nodeName: 'node-1', hostNetwork: false });
  expect(web.ips).toEqual([ip('10.0.1.10'), ip('fd00::10')]);
  expect(web.ports).toEqual([
    { name: 'http', containerPort: 8080, protocol: 'TCP' },
    { name: 'dns', containerPort: 53, protocol: 'UDP' },
  ]);
  expect(c.nodes).toHaveLength(1);
  expect(c.nodes[0]!.addresses).toEqual([ip('192.168.0.1'), ip('fd00:ff::1')]);
  expect(c.policies).toHaveLength(1);
  const np = c.policies[0]!;
  expect(np.policyTypes).toEqual(['ingress', 'egress']);
  expect(np.podSelector).toEqual({ matchLabels: { app: 'web' }, matchExpressions: [] });
  expect(np.ingress).toHaveLength(1);
  const rule = np.ingress[0]!;
  expect(rule.peers).toHaveLength(2);
  expect(rule.peers[0]!.ipBlock?.cidr).toEqual({ addr: ip('10.0.0.0'), len: 96 + 16, family: 4 });
  expect(rule.peers[0]!.ipBlock?.except).toEqual([{ addr: ip('10.0.5.0'), len: 96 + 24, family: 4 }]);
  expect(rule.peers[1]).toEqual({
    namespaceSelector: { matchLabels: { team: 'b' }, matchExpressions: [] },
    podSelector: { matchLabels: {}, matchExpressions: [] },
  });
  expect(rule.ports).toEqual([
    { protocol: 'TCP', port: 8080 },
    { protocol: 'UDP', port: 'http' },
    { protocol: 'SCTP', port: 7000, endPort: 7010 },
  ]);
  expect(np.egress).toEqual([{
    peers: [{ podSelector: { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] } }],
    ports: [],
  }]);
}

describe('loader formats', () => {
  it('reads YAML multi-document text, skipping empty documents and kinds that do not matter', () => {
    const text = ['', NAMESPACE_PROD, POD_WEB, NODE_1, POLICY_WEB,
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: prod\n', ''].join('---\n');
    const c = clusterFromText('multi.yaml', text);
    expectWebCluster(c);
    // a leading --- opens the first document rather than ending an empty one
    expect(c.pods[0]!.origin).toEqual({ file: 'multi.yaml', doc: 2 });
    expect(c.policies[0]!.origin).toEqual({ file: 'multi.yaml', doc: 4 });
  });

  it('reads JSON as kubectl get -o json prints one object', () => {
    const pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'db', namespace: 'prod', labels: { app: 'db' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'db', image: 'postgres', ports: [{ containerPort: 5432, name: 'pg', protocol: 'TCP' }] }] },
      status: { phase: 'Running', podIP: '10.0.1.20', podIPs: [{ ip: '10.0.1.20' }] },
    };
    const c = clusterFromText('pod.json', JSON.stringify(pod, null, 4));
    expect(c.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual(['prod/db']);
    expect(c.pods[0]!.ips).toEqual([ip('10.0.1.20')]);
    // the namespace is implied by the pod and carries its name label
    expect(c.namespaces).toEqual([{ name: 'prod', labels: { [METADATA_NAME_LABEL]: 'prod' } }]);
  });

  it('reads kind: List as kubectl get -o json prints it', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', labels: { team: 'a' } } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'prod', labels: { app: 'web' } },
          spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }, { containerPort: 53, name: 'dns', protocol: 'UDP' }] }] },
          status: { podIP: '10.0.1.10', podIPs: [{ ip: '10.0.1.10' }, { ip: 'fd00::10' }] } },
        { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' },
          status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }, { type: 'ExternalIP', address: '198.51.100.1' }, { type: 'InternalIP', address: 'fd00:ff::1' }] } },
        { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web', namespace: 'prod' },
          spec: {
            podSelector: { matchLabels: { app: 'web' } },
            ingress: [{
              from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.5.0/24'] } }, { namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: {} }],
              ports: [{ port: 8080 }, { protocol: 'UDP', port: 'http' }, { protocol: 'SCTP', port: 7000, endPort: 7010 }],
            }],
            egress: [{ to: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] } }] }],
          } },
      ],
      metadata: { resourceVersion: '' },
    }, null, 4);
    const c = clusterFromText('all.json', text);
    expectWebCluster(c);
    expect(c.policies[0]!.origin).toEqual({ file: 'all.json', doc: 1, item: 3 });
  });

  it('reads typed lists (PodList, NetworkPolicyList) in YAML', () => {
    const text = `apiVersion: v1
kind: PodList
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: dev}
  status: {podIP: 10.0.2.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: dev}
  spec: {hostNetwork: true, nodeName: node-1}
  status: {podIP: 192.168.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: c, namespace: dev}
  status: {phase: Succeeded}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny, namespace: dev}
  spec: {podSelector: {}}
`;
    const c = clusterFromText('lists.yaml', text);
    expect(c.pods.map((p) => [p.name, p.ips, p.hostNetwork])).toEqual([
      ['a', [ip('10.0.2.1')], false],
      ['b', [ip('192.168.0.1')], true],
      ['c', [], false],
    ]);
    expect(c.policies.map((p) => [p.name, p.policyTypes, p.ingress, p.egress])).toEqual([['deny', ['ingress'], [], []]]);
  });

  it('merges several paths and directories (recursively, .yaml/.yml/.json only)', () => {
    const dir = writeTree({
      'a-namespace.yaml': NAMESPACE_PROD,
      'nested/deeper/pod.yml': POD_WEB,
      'nested/node.json': JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' },
        status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }, { type: 'InternalIP', address: 'fd00:ff::1' }] } }),
      'README.txt': 'not a manifest: {{{',
    });
    const single = writeTree({ 'policy.yaml': POLICY_WEB });
    const c = loadCluster([dir, join(single, 'policy.yaml')]);
    expectWebCluster(c);
    expect(c.pods[0]!.origin).toEqual({ file: join(dir, 'nested/deeper/pod.yml'), doc: 1 });
  });

  it('defaults policyTypes: Ingress, plus Egress only when spec.egress has a rule', () => {
    const policy = (name: string, spec: string) =>
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${name}\n  namespace: prod\nspec:\n${spec}`;
    const c = clusterFromText('types.yaml', [
      policy('a-none', '  podSelector: {}\n'),
      policy('b-empty-egress', '  podSelector: {}\n  egress: []\n'),
      policy('c-egress-rule', '  podSelector: {}\n  egress:\n  - {}\n'),
      policy('d-explicit', '  podSelector: {}\n  policyTypes: [Egress]\n  ingress:\n  - {}\n'),
      policy('e-both', '  podSelector: {}\n  policyTypes: [Ingress, Egress]\n'),
    ].join('---\n'));
    expect(c.policies.map((p) => [p.name, p.policyTypes])).toEqual([
      ['a-none', ['ingress']],
      ['b-empty-egress', ['ingress']],
      ['c-egress-rule', ['ingress', 'egress']],
      ['d-explicit', ['egress']],
      ['e-both', ['ingress', 'egress']],
    ]);
  });
});

describe('loader errors', () => {
  it('a bad ipBlock cidr names file, document and field path', () => {
    const bad = POLICY_WEB.replace(
      '    - namespaceSelector:\n        matchLabels:\n          team: b\n      podSelector: {}\n',
      '    - ipBlock:\n        cidr: 10.0.0.1/8\n');
    expectLoadError(() => clusterFromText('bad-cidr.yaml', `${NAMESPACE_PROD}---\n${bad}`), 'PFSIM_ERR_MANIFEST',
      ['bad-cidr.yaml', 'document 2', 'spec.ingress[0].from[1].ipBlock.cidr']);
  });

  it('an except outside its cidr names the except entry', () => {
    const bad = POLICY_WEB.replace('- 10.0.5.0/24', '- 10.0.5.0/24\n        - 10.1.0.0/24');
    expectLoadError(() => clusterFromText('bad-except.yaml', bad), 'PFSIM_ERR_MANIFEST',
      ['bad-except.yaml', 'document 1', 'spec.ingress[0].from[0].ipBlock.except[1]']);
  });

  it('an unknown selector operator names the expression', () => {
    const bad = POLICY_WEB.replace('operator: NotIn', 'operator: Equals');
    expectLoadError(() => clusterFromText('bad-op.yaml', bad), 'PFSIM_ERR_MANIFEST',
      ['bad-op.yaml', 'document 1', 'spec.egress[0].to[0].podSelector.matchExpressions[0].operator']);
  });

  it('an unsupported port protocol names the port entry', () => {
    const bad = POLICY_WEB.replace('- protocol: UDP', '- protocol: ICMP');
    expectLoadError(() => clusterFromText('bad-proto.yaml', bad), 'PFSIM_ERR_MANIFEST',
      ['bad-proto.yaml', 'spec.ingress[0].ports[1].protocol']);
  });

  it('endPort below port names endPort', () => {
    const bad = POLICY_WEB.replace('endPort: 7010', 'endPort: 6999');
    expectLoadError(() => clusterFromText('bad-range.yaml', bad), 'PFSIM_ERR_MANIFEST',
      ['bad-range.yaml', 'spec.ingress[0].ports[2].endPort']);
  });

  it('an error inside kind: List names the document and the item', () => {
    const text = JSON.stringify({
      apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } },
        { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'prod' },
          spec: { podSelector: {}, egress: [{ ports: [{ port: 'http', endPort: 90 }] }] } },
      ],
    });
    expectLoadError(() => clusterFromText('list.json', `${NAMESPACE_PROD}---\n${text}`), 'PFSIM_ERR_MANIFEST',
      ['list.json', 'document 2 items[1]', 'spec.egress[0].ports[0].endPort']);
  });

  it('a bad container port names the container and port', () => {
    const bad = POD_WEB.replace('containerPort: 53', 'containerPort: 70000');
    expectLoadError(() => clusterFromText('bad-pod.yaml', `${NAMESPACE_PROD}---\n${bad}`), 'PFSIM_ERR_MANIFEST',
      ['bad-pod.yaml', 'document 2', 'spec.containers[0].ports[1].containerPort']);
  });

  it('a bad pod IP names the status field', () => {
    const bad = POD_WEB.replace('- ip: fd00::10', '- ip: fd00::10::1');
    expectLoadError(() => clusterFromText('bad-ip.yaml', bad), 'PFSIM_ERR_MANIFEST',
      ['bad-ip.yaml', 'document 1', 'status.podIPs[1].ip']);
  });

  it('an unknown kind names the kind field', () => {
    expectLoadError(() => clusterFromText('kind.yaml', `${NAMESPACE_PROD}---\napiVersion: v1\nkind: Gadget\nmetadata:\n  name: g\n`),
      'PFSIM_ERR_MANIFEST', ['kind.yaml', 'document 2', 'kind']);
  });

  it('a pod defined in two files names both places', () => {
    const dir = writeTree({ 'a.yaml': POD_WEB, 'b.yaml': `${NAMESPACE_PROD}---\n${POD_WEB}` });
    expectLoadError(() => loadCluster([dir]), 'PFSIM_ERR_MANIFEST',
      [join(dir, 'a.yaml'), join(dir, 'b.yaml'), 'document 2', 'prod/web']);
  });

  it('a YAML syntax error names file, document and line', () => {
    const text = `${NAMESPACE_PROD}---\nkind: Pod\nmetadata:\n\tname: a\n`;
    // the tab is on line 10: six lines of namespace, the separator, kind, metadata, then the tab
    expectLoadError(() => clusterFromText('syntax.yaml', text), 'PFSIM_ERR_INPUT_PARSE',
      ['syntax.yaml', 'document 2', 'line 10']);
  });

  it('a JSON syntax error names file and document', () => {
    const path = join(writeTree({ 'broken.json': '{"kind": "Pod",\n "metadata": {"name": "a"}\n' }), 'broken.json');
    expectLoadError(() => loadCluster([path]), 'PFSIM_ERR_INPUT_PARSE', [path, 'document 1']);
  });

  it('a missing path is a read error naming the path', () => {
    const path = join(tmpRoot, 'does-not-exist.yaml');
    expectLoadError(() => loadCluster([path]), 'PFSIM_ERR_INPUT_READ', [path]);
  });
});
