/**
 * Reads the cluster from kubectl output: YAML or JSON files, multi-document, `kind: List`,
 * files or directories, several paths merged. Validates every field pfsim uses and throws a
 * PfsimError naming the file, the document and the field on the first problem.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { Composer, LineCounter, Parser } from 'yaml';
import { PfsimError } from '../errors.js';
import { parseCidr, parseIp, cidrCovers, type Cidr } from '../net/ip.js';
import {
  type Cluster, type ContainerPort, type Direction, type IpBlock, type L4Proto, type LabelSelector,
  type LabelSelectorRequirement, type Namespace, type NetworkPolicy, type Node, type Origin, type Pod,
  type PolicyPeer, type PolicyPort, type PolicyRule, type SelectorOperator, L4_PROTOS, METADATA_NAME_LABEL,
  originText,
} from './model.js';

const MAX_FILE_BYTES = 256 * 1024 * 1024;
/*
 * The YAML library holds about a hundred bytes of syntax tree per byte of the document it is
 * composing, and a document past the heap would end the process (V8 aborts, no error to
 * catch). Documents are composed one at a time, so the limit is on the largest one: a 4 GiB
 * heap allows 20 MiB. JSON is read by JSON.parse, which needs a few bytes per byte.
 */
const MAX_YAML_DOC_BYTES = Math.max(1 << 20, Math.floor(getHeapStatistics().heap_size_limit / 200));
/** kind: List nested in kind: List: deeper than this is refused rather than recursed into */
const MAX_LIST_DEPTH = 8;
/** a value quoted in an error message is cut to this many characters */
const MAX_QUOTED = 60;
const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** Kinds a kubectl dump may hold that do not affect NetworkPolicy semantics; skipped. */
const IGNORED_KINDS = new Set([
  'Service', 'Endpoints', 'EndpointSlice', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet',
  'Job', 'CronJob', 'ConfigMap', 'Secret', 'ServiceAccount', 'Event', 'Ingress', 'PersistentVolumeClaim',
  'PersistentVolume', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'HorizontalPodAutoscaler',
  'PodDisruptionBudget', 'LimitRange', 'ResourceQuota', 'CustomResourceDefinition', 'StorageClass',
  'IngressClass', 'PriorityClass', 'Lease', 'APIService',
]);

type Json = unknown;
type Obj = Record<string, Json>;

class Ctx {
  constructor(readonly origin: Origin, readonly what: string) {}
  fail(field: string, why: string): never {
    throw new PfsimError('PFSIM_ERR_MANIFEST', oneLine(`${originText(this.origin)} (${this.what}): field ${field}: ${why}`));
  }
}

/** An error message stays one line whatever names and values from the file it quotes. */
function oneLine(msg: string): string {
  return msg.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${quote(v)}`;
}

/** a value for an error message: JSON, cut short (Ctx.fail keeps the line whole) */
function quote(v: Json): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > MAX_QUOTED ? `${s.slice(0, MAX_QUOTED)}...` : s;
}

function obj(ctx: Ctx, v: Json, field: string, optional = true): Obj | undefined {
  if (v === undefined || v === null) {
    if (optional) return undefined;
    ctx.fail(field, 'is required');
  }
  if (!isObj(v)) ctx.fail(field, `must be an object, got ${typeName(v)}`);
  return v;
}

function list(ctx: Ctx, v: Json, field: string): Json[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) ctx.fail(field, `must be a list, got ${typeName(v)}`);
  return v;
}

function str(ctx: Ctx, v: Json, field: string, optional = false): string | undefined {
  if (v === undefined || v === null) {
    if (optional) return undefined;
    ctx.fail(field, 'is required');
  }
  if (typeof v !== 'string') ctx.fail(field, `must be a string, got ${typeName(v)}`);
  return v;
}

function bool(ctx: Ctx, v: Json, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') ctx.fail(field, `must be true or false, got ${typeName(v)}`);
  return v;
}

function onlyKeys(ctx: Ctx, o: Obj, field: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) ctx.fail(`${field}.${k}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
}

function labels(ctx: Ctx, v: Json, field: string): Record<string, string> {
  const o = obj(ctx, v, field) ?? {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') ctx.fail(`${field}.${k}`, `label values must be strings, got ${typeName(val)}`);
    if (k.length === 0) ctx.fail(field, 'label keys must not be empty');
    out[k] = val;
  }
  return out;
}

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

function selector(ctx: Ctx, v: Json, field: string): LabelSelector {
  const o = obj(ctx, v, field) ?? {};
  onlyKeys(ctx, o, field, ['matchLabels', 'matchExpressions']);
  const matchLabels = labels(ctx, o['matchLabels'], `${field}.matchLabels`);
  const matchExpressions: LabelSelectorRequirement[] = list(ctx, o['matchExpressions'], `${field}.matchExpressions`)
    .map((e, i) => {
      const f = `${field}.matchExpressions[${i}]`;
      const eo = obj(ctx, e, f, false)!;
      onlyKeys(ctx, eo, f, ['key', 'operator', 'values']);
      const key = str(ctx, eo['key'], `${f}.key`)!;
      const op = str(ctx, eo['operator'], `${f}.operator`)!;
      if (!OPERATORS.includes(op as SelectorOperator)) ctx.fail(`${f}.operator`, `unknown operator "${op}" (expected In, NotIn, Exists or DoesNotExist)`);
      const values = list(ctx, eo['values'], `${f}.values`).map((x, j) => str(ctx, x, `${f}.values[${j}]`)!);
      if ((op === 'In' || op === 'NotIn') && values.length === 0) ctx.fail(`${f}.values`, `must be non-empty for operator ${op}`);
      if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) ctx.fail(`${f}.values`, `must be empty for operator ${op}`);
      return { key, operator: op as SelectorOperator, values };
    });
  return { matchLabels, matchExpressions };
}

function protocol(ctx: Ctx, v: Json, field: string): L4Proto {
  if (v === undefined || v === null) return 'TCP';
  const s = str(ctx, v, field)!;
  if (!L4_PROTOS.includes(s as L4Proto)) ctx.fail(field, `unsupported protocol "${s}" (expected TCP, UDP or SCTP)`);
  return s as L4Proto;
}

function portNumber(ctx: Ctx, v: Json, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) ctx.fail(field, `must be an integer, got ${typeName(v)}`);
  if (v < 1 || v > 65535) ctx.fail(field, `port ${v} is out of range 1-65535`);
  return v;
}

/** IANA_SVC_NAME rules as the API server checks them for named ports. */
function isPortName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
}

function cidrField(ctx: Ctx, v: Json, field: string): Cidr {
  const s = str(ctx, v, field)!;
  const r = parseCidr(s);
  if (!r.ok) ctx.fail(field, r.why);
  return r.cidr;
}

function peer(ctx: Ctx, v: Json, field: string): PolicyPeer {
  const o = obj(ctx, v, field, false)!;
  onlyKeys(ctx, o, field, ['podSelector', 'namespaceSelector', 'ipBlock']);
  const hasSel = o['podSelector'] != null || o['namespaceSelector'] != null;
  if (o['ipBlock'] != null) {
    if (hasSel) ctx.fail(field, 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer');
    const b = obj(ctx, o['ipBlock'], `${field}.ipBlock`, false)!;
    onlyKeys(ctx, b, `${field}.ipBlock`, ['cidr', 'except']);
    const cidr = cidrField(ctx, b['cidr'], `${field}.ipBlock.cidr`);
    const except = list(ctx, b['except'], `${field}.ipBlock.except`).map((e, i) => {
      const f = `${field}.ipBlock.except[${i}]`;
      const c = cidrField(ctx, e, f);
      if (c.family !== cidr.family) ctx.fail(f, 'must be of the same IP family as cidr');
      if (!cidrCovers(cidr, c) || c.len === cidr.len) ctx.fail(f, 'must be strictly inside cidr');
      return c;
    });
    const block: IpBlock = { cidr, except };
    return { ipBlock: block };
  }
  if (!hasSel) ctx.fail(field, 'a peer needs podSelector, namespaceSelector or ipBlock');
  const out: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector } = {};
  if (o['podSelector'] != null) out.podSelector = selector(ctx, o['podSelector'], `${field}.podSelector`);
  if (o['namespaceSelector'] != null) out.namespaceSelector = selector(ctx, o['namespaceSelector'], `${field}.namespaceSelector`);
  return out;
}

function policyPort(ctx: Ctx, v: Json, field: string): PolicyPort {
  const o = obj(ctx, v, field, false)!;
  onlyKeys(ctx, o, field, ['protocol', 'port', 'endPort']);
  const proto = protocol(ctx, o['protocol'], `${field}.protocol`);
  const p = o['port'];
  if (p === undefined || p === null) {
    if (o['endPort'] != null) ctx.fail(`${field}.endPort`, 'requires port');
    return { protocol: proto };
  }
  if (typeof p === 'string') {
    if (/^\d+$/.test(p)) ctx.fail(`${field}.port`, `"${p}" is a number in quotes; write it without quotes`);
    if (!isPortName(p)) ctx.fail(`${field}.port`, `"${p}" is not a valid port name`);
    if (o['endPort'] != null) ctx.fail(`${field}.endPort`, 'cannot be used with a named port');
    return { protocol: proto, port: p };
  }
  const port = portNumber(ctx, p, `${field}.port`);
  if (o['endPort'] == null) return { protocol: proto, port };
  const endPort = portNumber(ctx, o['endPort'], `${field}.endPort`);
  if (endPort < port) ctx.fail(`${field}.endPort`, `${endPort} is less than port ${port}`);
  return { protocol: proto, port, endPort };
}

function rule(ctx: Ctx, v: Json, field: string, peerKey: 'from' | 'to'): PolicyRule {
  const o = obj(ctx, v, field) ?? {};
  onlyKeys(ctx, o, field, [peerKey, 'ports']);
  return {
    peers: list(ctx, o[peerKey], `${field}.${peerKey}`).map((p, i) => peer(ctx, p, `${field}.${peerKey}[${i}]`)),
    ports: list(ctx, o['ports'], `${field}.ports`).map((p, i) => policyPort(ctx, p, `${field}.ports[${i}]`)),
  };
}

function metadata(ctx: Ctx, v: Obj, namespaced: boolean): { name: string; namespace: string; labels: Record<string, string> } {
  const md = obj(ctx, v['metadata'], 'metadata', false)!;
  const name = str(ctx, md['name'], 'metadata.name')!;
  if (name.length === 0) ctx.fail('metadata.name', 'must not be empty');
  const namespace = namespaced ? (str(ctx, md['namespace'], 'metadata.namespace', true) ?? 'default') : '';
  return { name, namespace, labels: labels(ctx, md['labels'], 'metadata.labels') };
}

function ipList(ctx: Ctx, field: string, values: { v: Json; f: string }[]): bigint[] {
  const out: bigint[] = [];
  for (const { v, f } of values) {
    const s = str(ctx, v, f)!;
    const ip = parseIp(s);
    if (ip === undefined) ctx.fail(f, `"${s}" is not an IP address`);
    if (!out.includes(ip)) out.push(ip);
  }
  void field;
  return out;
}

function parsePod(ctx: Ctx, v: Obj): Pod {
  const md = metadata(ctx, v, true);
  const spec = obj(ctx, v['spec'], 'spec') ?? {};
  const status = obj(ctx, v['status'], 'status') ?? {};
  const ipSources: { v: Json; f: string }[] = [];
  const podIPs = list(ctx, status['podIPs'], 'status.podIPs');
  podIPs.forEach((e, i) => {
    const eo = obj(ctx, e, `status.podIPs[${i}]`, false)!;
    ipSources.push({ v: eo['ip'], f: `status.podIPs[${i}].ip` });
  });
  if (ipSources.length === 0 && status['podIP'] != null) ipSources.push({ v: status['podIP'], f: 'status.podIP' });
  const ips = ipList(ctx, 'status.podIPs', ipSources);
  const ports: ContainerPort[] = [];
  const containers = [
    ...list(ctx, spec['initContainers'], 'spec.initContainers').map((c, i) => ({ c, f: `spec.initContainers[${i}]` })),
    ...list(ctx, spec['containers'], 'spec.containers').map((c, i) => ({ c, f: `spec.containers[${i}]` })),
  ];
  for (const { c, f } of containers) {
    const co = obj(ctx, c, f, false)!;
    list(ctx, co['ports'], `${f}.ports`).forEach((p, j) => {
      const pf = `${f}.ports[${j}]`;
      const po = obj(ctx, p, pf, false)!;
      const containerPort = portNumber(ctx, po['containerPort'], `${pf}.containerPort`);
      const name = str(ctx, po['name'], `${pf}.name`, true);
      if (name !== undefined && !isPortName(name)) ctx.fail(`${pf}.name`, `"${name}" is not a valid port name`);
      const cp: ContainerPort = { containerPort, protocol: protocol(ctx, po['protocol'], `${pf}.protocol`), ...(name !== undefined ? { name } : {}) };
      ports.push(cp);
    });
  }
  const hostNetwork = bool(ctx, spec['hostNetwork'], 'spec.hostNetwork') ?? false;
  const nodeName = str(ctx, spec['nodeName'], 'spec.nodeName', true);
  return { namespace: md.namespace, name: md.name, labels: md.labels, ips, hostNetwork, ports, origin: ctx.origin, ...(nodeName ? { nodeName } : {}) };
}

function parseNode(ctx: Ctx, v: Obj): Node {
  const md = metadata(ctx, v, false);
  const status = obj(ctx, v['status'], 'status') ?? {};
  const srcs: { v: Json; f: string }[] = [];
  list(ctx, status['addresses'], 'status.addresses').forEach((a, i) => {
    const ao = obj(ctx, a, `status.addresses[${i}]`, false)!;
    if (str(ctx, ao['type'], `status.addresses[${i}].type`, true) === 'InternalIP') srcs.push({ v: ao['address'], f: `status.addresses[${i}].address` });
  });
  return { name: md.name, addresses: ipList(ctx, 'status.addresses', srcs), origin: ctx.origin };
}

function parseNamespace(ctx: Ctx, v: Obj): Namespace {
  const md = metadata(ctx, v, false);
  // the API server sets this label on every namespace (Kubernetes 1.21+); old dumps may lack it
  return { name: md.name, labels: { ...md.labels, [METADATA_NAME_LABEL]: md.name }, origin: ctx.origin };
}

function parsePolicy(ctx: Ctx, v: Obj): NetworkPolicy {
  const api = v['apiVersion'];
  if (api !== undefined && api !== 'networking.k8s.io/v1') ctx.fail('apiVersion', `unsupported "${String(api)}" (expected networking.k8s.io/v1)`);
  const md = metadata(ctx, v, true);
  const spec = obj(ctx, v['spec'], 'spec', false)!;
  onlyKeys(ctx, spec, 'spec', ['podSelector', 'ingress', 'egress', 'policyTypes']);
  if (spec['podSelector'] === undefined) ctx.fail('spec.podSelector', 'is required (use {} to select every pod)');
  const podSelector = selector(ctx, spec['podSelector'], 'spec.podSelector');
  const ingress = list(ctx, spec['ingress'], 'spec.ingress').map((r, i) => rule(ctx, r, `spec.ingress[${i}]`, 'from'));
  const egress = list(ctx, spec['egress'], 'spec.egress').map((r, i) => rule(ctx, r, `spec.egress[${i}]`, 'to'));
  let policyTypes: Direction[];
  if (spec['policyTypes'] === undefined || spec['policyTypes'] === null) {
    policyTypes = egress.length > 0 ? ['ingress', 'egress'] : ['ingress'];
  } else {
    const raw = list(ctx, spec['policyTypes'], 'spec.policyTypes');
    policyTypes = [];
    raw.forEach((t, i) => {
      const s = str(ctx, t, `spec.policyTypes[${i}]`)!;
      if (s !== 'Ingress' && s !== 'Egress') ctx.fail(`spec.policyTypes[${i}]`, `"${s}" is not Ingress or Egress`);
      const d: Direction = s === 'Ingress' ? 'ingress' : 'egress';
      if (!policyTypes.includes(d)) policyTypes.push(d);
    });
    // an explicit empty list defaults like an absent one (the API server fills it in)
    if (policyTypes.length === 0) policyTypes = egress.length > 0 ? ['ingress', 'egress'] : ['ingress'];
  }
  return { namespace: md.namespace, name: md.name, podSelector, policyTypes, ingress, egress, origin: ctx.origin };
}

interface Collected { namespaces: Namespace[]; pods: Pod[]; nodes: Node[]; policies: NetworkPolicy[] }

function addObject(into: Collected, v: Json, origin: Origin, depth = 0): void {
  const pre: Ctx = new Ctx(origin, 'object');
  if (!isObj(v)) pre.fail('(document)', `must be a Kubernetes object, got ${typeName(v)}`);
  const kind = v['kind'];
  if (typeof kind !== 'string') pre.fail('kind', kind === undefined ? 'is required' : `must be a string, got ${typeName(kind)}`);
  if (kind === 'List' || kind.endsWith('List')) {
    const items = v['items'];
    if (!Array.isArray(items)) pre.fail('items', `must be a list, got ${typeName(items)}`);
    if (depth === MAX_LIST_DEPTH) pre.fail('items', `a ${kind} nested more than ${MAX_LIST_DEPTH} deep`);
    items.forEach((it, i) => addObject(into, it, { ...origin, item: i }, depth + 1));
    return;
  }
  const md = isObj(v['metadata']) ? v['metadata'] : {};
  const label = `${kind} ${typeof md['namespace'] === 'string' ? `${md['namespace']}/` : ''}${typeof md['name'] === 'string' ? md['name'] : '?'}`;
  const ctx: Ctx = new Ctx(origin, label);
  switch (kind) {
    case 'Namespace': into.namespaces.push(parseNamespace(ctx, v)); break;
    case 'Pod': into.pods.push(parsePod(ctx, v)); break;
    case 'Node': into.nodes.push(parseNode(ctx, v)); break;
    case 'NetworkPolicy': into.policies.push(parsePolicy(ctx, v)); break;
    default:
      if (!IGNORED_KINDS.has(kind)) ctx.fail('kind', `unknown kind "${kind}" (pfsim reads Namespace, Pod, Node, NetworkPolicy)`);
  }
}

function listFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new PfsimError('PFSIM_ERR_INPUT_READ', `${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => {
    const p = join(path, name);
    const s = statSync(p);
    if (s.isDirectory()) return listFiles(p);
    return MANIFEST_EXT.test(name) ? [p] : [];
  });
}

/** The first line of a parser's message, without the position it repeats at its end. */
function parserMessage(msg: string): string {
  return msg.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * The largest YAML document: its size in characters and where it starts. Documents start at
 * `---` and end at `...` lines (no block scalar may hold such a line, so the split is exact).
 */
function largestYamlDocument(text: string): { size: number; start: number } {
  const marker = /^(?:---|\.\.\.)(?=[ \t\r\n]|$)/gm;
  let last = 0;
  const best = { size: 0, start: 0 };
  const segment = (end: number): void => {
    if (end - last > best.size) Object.assign(best, { size: end - last, start: last });
  };
  for (let m = marker.exec(text); m !== null; m = marker.exec(text)) {
    segment(m.index);
    last = m.index;
  }
  segment(text.length);
  return best;
}

/**
 * One JSON document, when the text is JSON: kubectl -o json output, read without the YAML
 * library's syntax tree. undefined when it does not parse and is small enough for the YAML
 * path to give the error with its line; a syntax error naming the line otherwise.
 * Unlike the YAML path, a key given twice keeps its last value (as the API server does).
 */
function parseJson(file: string, text: string): { value: Json } | undefined {
  if (!/^\s*[[{]/.test(text.slice(0, 4096))) return undefined;
  try {
    return { value: JSON.parse(text) as Json };
  } catch (e) {
    if (largestYamlDocument(text).size <= MAX_YAML_DOC_BYTES) return undefined;
    const at = /position (\d+)/.exec((e as Error).message);
    const where = at ? lineCol(text, Number(at[1])) : undefined;
    throw new PfsimError('PFSIM_ERR_INPUT_PARSE',
      `${file}: document 1: ${where ? `line ${where.line} column ${where.col}: ` : ''}${parserMessage((e as Error).message)}`);
  }
}

/** 1-based line and column of character offset pos */
function lineCol(text: string, pos: number): { line: number; col: number } {
  let line = 1, start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: pos - start + 1 };
}

/**
 * Parses one file's text into documents: JSON (one document), or YAML composed one document
 * at a time so that memory follows the largest document, not the file.
 */
export function parseManifestText(file: string, text: string, into: Collected): void {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const json = parseJson(file, body);
  if (json !== undefined) {
    if (json.value !== null) addObjectChecked(into, json.value, { file, doc: 1 });
    return;
  }
  const largest = largestYamlDocument(body);
  if (largest.size > MAX_YAML_DOC_BYTES) {
    throw new PfsimError('PFSIM_ERR_INPUT_READ',
      `${file}: line ${lineCol(body, largest.start).line}: a YAML document of ${largest.size} characters is over the ${MAX_YAML_DOC_BYTES}-character limit for YAML; write it as JSON (kubectl get -o json) or split it into documents`);
  }
  const lines = new LineCounter();
  const composer = new Composer({});
  let n = 0;
  for (const doc of composer.compose(new Parser(lines.addNewLine).parse(body))) {
    n++;
    const origin: Origin = { file, doc: n };
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const { line, col } = lines.linePos(e.pos[0]);
      throw new PfsimError('PFSIM_ERR_INPUT_PARSE', `${file}: document ${n}: line ${line} column ${col}: ${parserMessage(e.message)}`);
    }
    let value: Json;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new PfsimError('PFSIM_ERR_INPUT_PARSE', `${file}: document ${n}: ${parserMessage((e as Error).message)}`);
    }
    if (value === null || value === undefined) continue; // an empty document (e.g. trailing ---)
    addObjectChecked(into, value, origin);
  }
}

/** addObject, with a stack overflow on absurdly nested values turned into an error naming the document */
function addObjectChecked(into: Collected, value: Json, origin: Origin): void {
  try {
    addObject(into, value, origin);
  } catch (e) {
    if (!(e instanceof RangeError) || !/call stack/.test(e.message)) throw e;
    throw new PfsimError('PFSIM_ERR_MANIFEST', `${originText(origin)}: nested too deeply to read`);
  }
}

function checkDuplicates<T extends { name: string; origin?: Origin }>(items: T[], key: (t: T) => string, kind: string): void {
  const seen = new Map<string, T>();
  for (const it of items) {
    const k = key(it);
    const prev = seen.get(k);
    if (prev) {
      throw new PfsimError('PFSIM_ERR_MANIFEST',
        oneLine(`${it.origin ? originText(it.origin) : '?'}: ${kind} ${k} is defined twice (first at ${prev.origin ? originText(prev.origin) : '?'})`));
    }
    seen.set(k, it);
  }
}

/** Builds a validated Cluster from collected objects: merges, checks duplicates, fills namespaces. */
export function assembleCluster(c: Collected): Cluster {
  checkDuplicates(c.namespaces, (n) => n.name, 'Namespace');
  checkDuplicates(c.pods, (p) => `${p.namespace}/${p.name}`, 'Pod');
  checkDuplicates(c.nodes, (n) => n.name, 'Node');
  checkDuplicates(c.policies, (p) => `${p.namespace}/${p.name}`, 'NetworkPolicy');
  const namespaces = [...c.namespaces];
  const known = new Set(namespaces.map((n) => n.name));
  // namespaces that pods or policies live in exist even when the dump did not include them
  for (const ns of [...c.pods.map((p) => p.namespace), ...c.policies.map((p) => p.namespace)].sort()) {
    if (!known.has(ns)) { known.add(ns); namespaces.push({ name: ns, labels: { [METADATA_NAME_LABEL]: ns } }); }
  }
  const byName = <T extends { name: string; namespace?: string }>(a: T, b: T) =>
    `${a.namespace ?? ''}/${a.name}` < `${b.namespace ?? ''}/${b.name}` ? -1 : 1;
  return {
    namespaces: namespaces.sort(byName),
    pods: [...c.pods].sort(byName),
    nodes: [...c.nodes].sort(byName),
    policies: [...c.policies].sort(byName),
  };
}

/** Loads and merges every manifest under the given files or directories. */
export function loadCluster(paths: readonly string[]): Cluster {
  const into: Collected = { namespaces: [], pods: [], nodes: [], policies: [] };
  for (const p of paths) {
    for (const file of listFiles(p)) {
      let text: string;
      try {
        const st = statSync(file);
        if (st.size > MAX_FILE_BYTES) throw new PfsimError('PFSIM_ERR_INPUT_READ', `${file}: ${st.size} bytes is larger than the ${MAX_FILE_BYTES}-byte limit`);
        text = readFileSync(file, 'utf8');
      } catch (e) {
        if (e instanceof PfsimError) throw e;
        throw new PfsimError('PFSIM_ERR_INPUT_READ', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      parseManifestText(file, text, into);
    }
  }
  return assembleCluster(into);
}

/** Loads a cluster from in-memory manifest text (tests, the built-in demo). */
export function clusterFromText(file: string, text: string): Cluster {
  const into: Collected = { namespaces: [], pods: [], nodes: [], policies: [] };
  parseManifestText(file, text, into);
  return assembleCluster(into);
}
