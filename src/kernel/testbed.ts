/**
 * A private netfilter testbed: three network namespaces modelling one node.
 *
 *   src ns                node ns (ip_forward=1, rp_filter=0)              dst ns
 *   pf<id>s ──veth── pf<id>i  169.254.77.1/30    pf<id>o 169.254.77.5/30 ──veth── pf<id>d
 *   02:70:66:00:00:01  02:70:66:00:00:02          02:70:66:00:00:03        02:70:66:00:00:04
 *
 * Frames are injected on pf<id>s with AF_PACKET, addressed to pf<id>i's MAC, so the node
 * namespace forwards them whatever their IP addresses: its default routes (IPv4 and IPv6) point
 * at a neighbour on the dst side (169.254.77.6 / fe80::2) that a permanent neighbour entry
 * resolves to pf<id>d's MAC. An AF_PACKET socket on pf<id>d sees what the node forwarded; the
 * dst namespace itself does not forward and drops the frames. Firewall rules go into the node
 * namespace, where the packets take the FORWARD path.
 *
 * Every namespace is named `pfsim-<pid>-<id>-<role>`; nothing is created in the host namespace
 * (veths are made inside the node namespace with their peers placed straight into src/dst).
 * Testbeds are removed by close(), by a process 'exit' hook and on SIGINT/SIGTERM;
 * cleanupResidue() removes what dead pfsim processes left behind.
 *
 * Error contract: every failure is a PfsimError PFSIM_ERR_UNSUPPORTED (the kernel or a tool
 * refused) prefixed with the operation, e.g. `testbed: ip link add: <ip's message>`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PfsimError, wrapError } from '../errors.js';
import { NO_REF, OUT_WORDS, REASON_DENY_INGRESS, REASON_POLICY, VERDICT_ALLOW, VERDICT_DENY } from '../engines/engine.js';

const NETNS_DIR = '/run/netns';
const NAME_RE = /^pfsim-(\d+)-([0-9a-f]{6})-(src|node|dst)$/;
export const MAC_SRC = '02:70:66:00:00:01';
export const MAC_NODE_IN = '02:70:66:00:00:02';
export const MAC_NODE_OUT = '02:70:66:00:00:03';
export const MAC_DST = '02:70:66:00:00:04';
/** a helper run may carry this many frames: the IPv4 identification is 16 bits */
export const MAX_FRAMES_PER_RUN = 65536;

export interface SpawnResult { readonly code: number; readonly stdout: string; readonly stderr: string }

function fail(op: string, msg: string): PfsimError {
  return new PfsimError('PFSIM_ERR_UNSUPPORTED', `testbed: ${op}: ${msg}`);
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** Runs a command synchronously; never throws (a spawn failure is code -1). */
export function runSync(cmd: string, args: readonly string[], input?: string | Uint8Array, timeoutMs = 30_000): SpawnResult {
  const r = spawnSync(cmd, args, { input, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  if (r.error) return { code: -1, stdout: '', stderr: `spawn ${cmd}: ${r.error.message}` };
  return { code: r.status ?? -1, stdout: r.stdout?.toString('utf8') ?? '', stderr: r.stderr?.toString('utf8') ?? '' };
}

function must(op: string, r: SpawnResult): SpawnResult {
  if (r.code !== 0) throw fail(op, firstLine(r.stderr) || `exit ${r.code}`);
  return r;
}

// --- process-wide bookkeeping: every namespace this process made and has not removed -------

const live = new Set<string>();
let hooksInstalled = false;

function removeNetnsSync(name: string): void {
  runSync('ip', ['netns', 'delete', name]);
  live.delete(name);
}

function removeAllLive(): void {
  for (const name of [...live]) removeNetnsSync(name);
}

function onSignal(sig: NodeJS.Signals): void {
  removeAllLive();
  // keep the default behaviour (terminate) unless someone else also handles the signal
  if (process.listenerCount(sig) === 1) {
    process.removeListener(sig, onSignal);
    process.kill(process.pid, sig);
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', removeAllLive);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Whether process `pid` exists (signal 0; EPERM: it exists and belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Network namespaces named by `pattern`, whose first group is the owner's pid, that belong to
 * processes that no longer exist (a process killed by SIGKILL runs no exit handler).
 */
export function deadOwnerNamespaces(pattern: RegExp): string[] {
  let entries: string[];
  try {
    entries = readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
  return entries.filter((e) => {
    const m = pattern.exec(e);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
}

/**
 * Removes testbed namespaces (`pfsim-<pid>-<id>-<role>`) whose process no longer exists,
 * with everything in them. Returns the names removed. Never throws.
 */
export function cleanupResidue(): string[] {
  return deadOwnerNamespaces(NAME_RE).filter((e) => runSync('ip', ['netns', 'delete', e]).code === 0);
}

/** Names of this process's live testbed namespaces (for tests). */
export function liveTestbedNamespaces(): string[] {
  return [...live];
}

// --- the injector/observer helper ------------------------------------------------------------

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw fail('find project root', `no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

let helperPath: string | undefined;

/**
 * The path of pfsim-pktio, compiled from native/tools/pfsim-pktio.c into native/build/tools/
 * when missing or older than its source. Throws when no C compiler can build it.
 */
export function pktioHelper(): string {
  if (helperPath) return helperPath;
  const root = projectRoot();
  const src = join(root, 'native', 'tools', 'pfsim-pktio.c');
  const out = join(root, 'native', 'build', 'tools', 'pfsim-pktio');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    const cc = process.env.CC ?? 'cc';
    // build to a private name first: concurrent test workers may compile at the same time
    const tmp = `${out}.${process.pid}.tmp`;
    must(`compile ${src}`, runSync(cc, ['-O2', '-Wall', '-o', tmp, src]));
    must('install pfsim-pktio', runSync('mv', ['-f', tmp, out]));
  }
  helperPath = out;
  return out;
}

// --- the testbed -----------------------------------------------------------------------------

export interface Observation {
  /** arrived[i]: frame i reached the dst namespace */
  readonly arrived: Uint8Array;
  /** ns the kernel spent sending the frames through the node (the helper's send loop) */
  readonly sendNs: number;
}

export interface TestbedOptions {
  /** how long the receiver waits for a straggler after the last arrival; default 20 ms */
  readonly quietMs?: number;
}

/**
 * Sends `frames` through `tb` and writes each one's observed verdict into `out` from packet
 * `start` on: arrived is allowed, lost is denied; what decided is not observed (NO_REF).
 */
export function writeObserved(tb: Testbed, frames: readonly Uint8Array[], label: string, out: Uint32Array, start: number): void {
  let seen: Uint8Array;
  try {
    seen = tb.observe(frames).arrived;
  } catch (err) {
    throw wrapError(label, err);
  }
  for (let k = 0; k < frames.length; k++) {
    const o = (start + k) * OUT_WORDS;
    out[o] = seen[k] ? VERDICT_ALLOW : VERDICT_DENY;
    out[o + 1] = seen[k] ? REASON_POLICY : REASON_DENY_INGRESS;
    out[o + 2] = NO_REF;
    out[o + 3] = NO_REF;
  }
}

export class Testbed {
  readonly id: string;
  readonly src: string;
  readonly node: string;
  readonly dst: string;
  readonly ifSrc: string;
  readonly ifNodeIn: string;
  readonly ifNodeOut: string;
  readonly ifDst: string;
  private closed = false;
  private generation = 0;
  private readonly quietMs: number;
  /** ns of every send loop so far: the kernel's own time on the path, for benchmarks */
  sendNs = 0;

  /** Builds the three namespaces and their wiring; throws (and leaves nothing) on failure. */
  constructor(opts: TestbedOptions = {}) {
    installHooks();
    this.quietMs = opts.quietMs ?? 20;
    this.id = randomBytes(3).toString('hex');
    const base = `pfsim-${process.pid}-${this.id}`;
    this.src = `${base}-src`; this.node = `${base}-node`; this.dst = `${base}-dst`;
    this.ifSrc = `pf${this.id}s`; this.ifNodeIn = `pf${this.id}i`; this.ifNodeOut = `pf${this.id}o`; this.ifDst = `pf${this.id}d`;
    try {
      this.build();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private build(): void {
    for (const ns of [this.src, this.node, this.dst]) live.add(ns);
    const nodeSysctls = [
      'echo 1 > /proc/sys/net/ipv4/ip_forward',
      'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter',
      'echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter',
      'echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad',
      'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad',
      'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding',
      'echo 1 > /proc/sys/net/ipv6/conf/default/forwarding',
    ].join('; ');
    // src and dst only carry frames: no IPv6 of their own keeps the wire quiet
    const quiet = 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6';
    const wiring = [
      'link set lo up',
      `link set ${this.ifNodeIn} up`,
      `link set ${this.ifNodeOut} up`,
      `addr add 169.254.77.1/30 dev ${this.ifNodeIn}`,
      `addr add 169.254.77.5/30 dev ${this.ifNodeOut}`,
      `neigh replace 169.254.77.6 lladdr ${MAC_DST} dev ${this.ifNodeOut} nud permanent`,
      `route add default via 169.254.77.6 dev ${this.ifNodeOut}`,
      `addr add fe80::1/64 dev ${this.ifNodeOut} nodad`,
      `neigh replace fe80::2 lladdr ${MAC_DST} dev ${this.ifNodeOut} nud permanent`,
      `route add ::/0 via fe80::2 dev ${this.ifNodeOut}`,
    ].join('\n');
    // one shell for the whole build: a spawn from Node costs ~20 ms, from sh a few
    const script = [
      'set -e',
      ...[this.src, this.node, this.dst].map((ns) => `ip netns add ${ns}`),
      // sysctls before the links exist, so the links inherit the defaults
      `ip netns exec ${this.node} sh -c '${nodeSysctls}'`,
      `ip netns exec ${this.src} sh -c '${quiet}'`,
      `ip netns exec ${this.dst} sh -c '${quiet}'`,
      // veths are born in the node namespace, their peers placed straight into src and dst
      `ip -n ${this.node} link add ${this.ifNodeIn} address ${MAC_NODE_IN} type veth peer name ${this.ifSrc} address ${MAC_SRC} netns ${this.src}`,
      `ip -n ${this.node} link add ${this.ifNodeOut} address ${MAC_NODE_OUT} type veth peer name ${this.ifDst} address ${MAC_DST} netns ${this.dst}`,
      `printf '${wiring}\\n' | ip -n ${this.node} -batch -`,
      `ip netns exec ${this.node} sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done'`,
      `ip -n ${this.src} link set ${this.ifSrc} up`,
      `ip -n ${this.dst} link set ${this.ifDst} up`,
    ].join('\n');
    must('build', runSync('sh', ['-c', script]));
  }

  /** Runs a command inside one of the testbed's namespaces. */
  execIn(ns: string, cmd: string, args: readonly string[], input?: string | Uint8Array): SpawnResult {
    if (this.closed) return { code: -1, stdout: '', stderr: 'testbed is closed' };
    return runSync('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  /** The path of one of the testbed's namespaces under /run/netns (for setns). */
  netnsPath(ns: string): string {
    return join(NETNS_DIR, ns);
  }

  /** Runs a command inside the node namespace (where the firewall lives). */
  execNode(cmd: string, args: readonly string[], input?: string | Uint8Array): SpawnResult {
    return this.execIn(this.node, cmd, args, input);
  }

  /**
   * Injects `frames` (Ethernet, IPv4 or IPv6, dst MAC MAC_NODE_IN) in order and reports which
   * reached the dst namespace. Stamps each frame in place: its index in the IPv4 identification
   * or IPv6 flow label, and a TTL/hop limit that changes from call to call so late frames of an
   * earlier call are not taken for this one's. At most MAX_FRAMES_PER_RUN frames per call.
   */
  observe(frames: readonly Uint8Array[]): Observation {
    if (this.closed) throw fail('observe', 'testbed is closed');
    if (frames.length > MAX_FRAMES_PER_RUN) throw fail('observe', `${frames.length} frames is more than ${MAX_FRAMES_PER_RUN}`);
    const arrived = new Uint8Array(frames.length);
    if (frames.length === 0) return { arrived, sendNs: 0 };
    this.generation = (this.generation + 1) % 8;
    const ttl = 250 - 4 * this.generation;
    let total = 0;
    for (const f of frames) total += 2 + f.length;
    const input = new Uint8Array(total);
    let off = 0;
    frames.forEach((f, i) => {
      if (f.length > 0xffff) throw fail('observe', `frame ${i}: ${f.length} bytes`);
      stampFrame(f, i, ttl);
      input[off] = f.length >>> 8; input[off + 1] = f.length & 0xff;
      input.set(f, off + 2);
      off += 2 + f.length;
    });
    const maxMs = 2000 + Math.ceil(frames.length / 10);
    const r = runSync(pktioHelper(), [join(NETNS_DIR, this.src), this.ifSrc, join(NETNS_DIR, this.dst), this.ifDst,
      String(ttl), String(this.quietMs), String(maxMs)], input, maxMs + 30_000);
    if (r.code !== 0) throw fail('pfsim-pktio', firstLine(r.stderr) || `exit ${r.code}`);
    const [line = '', ns = ''] = r.stdout.trimEnd().split('\n');
    if (line.length !== frames.length) throw fail('pfsim-pktio', `reported ${line.length} frames for ${frames.length}`);
    if (!/^\d+$/.test(ns)) throw fail('pfsim-pktio', `no send time after the arrivals (an old helper build?)`);
    for (let i = 0; i < frames.length; i++) arrived[i] = line.charCodeAt(i) === 49 ? 1 : 0;
    this.sendNs += Number(ns);
    return { arrived, sendNs: Number(ns) };
  }

  /** Removes the namespaces and so every link in them. Idempotent, never throws. */
  close(): void {
    this.closed = true;
    const mine = [this.src, this.node, this.dst].filter((ns) => live.has(ns));
    if (mine.length === 0) return;
    // one shell again; a namespace that never got made is fine to fail on
    runSync('sh', ['-c', mine.map((ns) => `ip netns delete ${ns} 2>/dev/null`).join('; ')]);
    for (const ns of mine) live.delete(ns);
  }
}

/** Writes id and TTL into an Ethernet frame's IP header (IPv4: also its header checksum). */
function stampFrame(f: Uint8Array, id: number, ttl: number): void {
  const ip = 14;
  const version = f[ip]! >>> 4;
  if (version === 4) {
    const ihl = (f[ip]! & 0x0f) * 4;
    f[ip + 4] = (id >>> 8) & 0xff; f[ip + 5] = id & 0xff;
    f[ip + 8] = ttl;
    f[ip + 10] = 0; f[ip + 11] = 0;
    let sum = 0;
    for (let k = 0; k < ihl; k += 2) sum += (f[ip + k]! << 8) | f[ip + k + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = ~sum & 0xffff;
    f[ip + 10] = c >>> 8; f[ip + 11] = c & 0xff;
  } else if (version === 6) {
    f[ip + 1] = (f[ip + 1]! & 0xf0) | ((id >>> 16) & 0x0f);
    f[ip + 2] = (id >>> 8) & 0xff; f[ip + 3] = id & 0xff;
    f[ip + 7] = ttl;
  } else {
    throw fail('observe', `frame ${id} is neither IPv4 nor IPv6`);
  }
}
