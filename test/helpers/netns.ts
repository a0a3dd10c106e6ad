/**
 * Throwaway network namespaces for kernel tests (in the spirit of cilium/ebpf `NewNetNS(tb)`).
 *
 * Each namespace is named `pfsim-test-<pid>-<random>`, so pfsim only ever removes namespaces
 * it made. Commands run inside it through `ip netns exec`; nothing here touches the host
 * namespace's interfaces or firewall. A namespace is removed by `remove()`, by `withNetns`
 * when its callback settles, and, as a backstop, by a process 'exit' handler.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { deadOwnerNamespaces } from '../../src/kernel/testbed.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** exit status; 128 + signal number when the command was killed by a signal */
  code: number;
}

export interface ExecOptions {
  /** written to the command's stdin, which is then closed */
  input?: string | Buffer;
  /** kills the command after this long; default 30 s */
  timeoutMs?: number;
}

export interface NetnsHandle {
  readonly name: string;
  /**
   * Runs `cmd args...` inside the namespace. Resolves with the exit status and output even
   * when the status is non-zero; rejects only when the command cannot be started.
   */
  exec(cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Deletes the namespace. Idempotent; rejects if `ip netns delete` fails. */
  remove(): Promise<void>;
}

export type KernelGate = { ok: true } | { ok: false; reason: string };

const NAME_PREFIX = 'pfsim-test-';

/** namespaces this process created and has not removed yet */
const live = new Set<string>();
let exitHookInstalled = false;
let staleSwept = false;
let cachedGate: KernelGate | undefined;

function newName(): string {
  return `${NAME_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: delete whatever a crashed test left behind
  process.on('exit', () => {
    for (const name of live) spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    live.clear();
  });
}


/**
 * Deletes pfsim test namespaces left by processes that no longer exist (a test run killed
 * with SIGKILL gets no 'exit' handler). Only names of the form pfsim-test-<pid>-<hex>.
 */
function sweepStale(): void {
  if (staleSwept) return;
  staleSwept = true;
  for (const entry of deadOwnerNamespaces(/^pfsim-test-(\d+)-[0-9a-f]+$/)) spawnSync('ip', ['netns', 'delete', entry], { stdio: 'ignore' });
}

function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new Error(`spawn ${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      let status = code ?? -1;
      if (code === null && signal !== null) {
        const signum = (osConstants.signals as Record<string, number>)[signal];
        status = signum === undefined ? -1 : 128 + signum;
      }
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: status,
      });
    });
    // a command that exits without reading stdin makes the write fail with EPIPE: ignore it,
    // the exit status tells the story
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Creates a namespace named `pfsim-test-<pid>-<random>` and returns a handle on it.
 * Rejects with `netns add <name>: <ip's message>` when `ip netns add` fails.
 */
export async function createNetns(): Promise<NetnsHandle> {
  sweepStale();
  installExitHook();
  const name = newName();
  const added = await run('ip', ['netns', 'add', name]);
  if (added.code !== 0) {
    throw new Error(`netns add ${name}: ${firstLine(added.stderr) || `exit ${added.code}`}`);
  }
  live.add(name);
  let removed = false;
  return {
    name,
    exec(cmd, args = [], opts) {
      if (removed) return Promise.reject(new Error(`netns exec ${name}: namespace was removed`));
      return run('ip', ['netns', 'exec', name, cmd, ...args], opts);
    },
    async remove() {
      if (removed) return;
      const res = await run('ip', ['netns', 'delete', name]);
      if (res.code !== 0) {
        throw new Error(`netns delete ${name}: ${firstLine(res.stderr) || `exit ${res.code}`}`);
      }
      removed = true;
      live.delete(name);
    },
  };
}

/**
 * Runs `fn` with a fresh namespace and removes the namespace when `fn` settles. A failure to
 * remove is reported only when `fn` itself succeeded, so it never hides the test's own error.
 */
export async function withNetns<T>(fn: (ns: NetnsHandle) => Promise<T>): Promise<T> {
  const ns = await createNetns();
  let result: T;
  try {
    result = await fn(ns);
  } catch (err) {
    await ns.remove().catch(() => {});
    throw err;
  }
  await ns.remove();
  return result;
}

/**
 * Says whether kernel tests can run here: root, `ip` from iproute2, and a working
 * `ip netns add`. Probed once per process; the probe namespace is deleted at once.
 */
export function kernelTestGate(): KernelGate {
  if (cachedGate) return cachedGate;
  cachedGate = probeGate();
  return cachedGate;
}

function probeGate(): KernelGate {
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `needs root (uid ${uid ?? 'unknown'})` };
  const version = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (version.error) return { ok: false, reason: `ip (iproute2) not runnable: ${version.error.message}` };
  const name = newName();
  const added = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (added.status !== 0) {
    return { ok: false, reason: `ip netns add failed: ${firstLine(added.stderr) || `exit ${added.status}`}` };
  }
  spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
  return { ok: true };
}

/** Appends the gate's reason to a test title, so a skipped test says why in its name. */
export function gatedTitle(title: string, gate: KernelGate): string {
  return gate.ok ? title : `${title} [skipped: ${gate.reason}]`;
}

/** Lists the names `ip netns list` shows (host view), for assertions. */
export async function listNetns(): Promise<string[]> {
  const res = await run('ip', ['netns', 'list']);
  if (res.code !== 0) throw new Error(`netns list: ${firstLine(res.stderr) || `exit ${res.code}`}`);
  // lines look like "name" or "name (id: 3)"
  return res.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/**
 * Runs one command in a namespace that exists only for this call, synchronously, for
 * collect-time gating (whether a backend works here decides a test's skip and its title).
 * Never throws: failures to create the namespace come back as code -1 with the reason.
 */
export function probeInNetnsSync(cmd: string, args: readonly string[], input = ''): ExecResult {
  sweepStale();
  const name = newName();
  const added = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (added.error || added.status !== 0) {
    const why = added.error?.message ?? firstLine(added.stderr ?? '');
    return { stdout: '', stderr: `netns add ${name}: ${why}`, code: -1 };
  }
  try {
    const res = spawnSync('ip', ['netns', 'exec', name, cmd, ...args], {
      input,
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (res.error) return { stdout: '', stderr: `spawn ${cmd}: ${res.error.message}`, code: -1 };
    return { stdout: res.stdout, stderr: res.stderr, code: res.status ?? -1 };
  } finally {
    spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
  }
}
