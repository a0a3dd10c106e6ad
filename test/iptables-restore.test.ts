/**
 * Real iptables accepts what pfsim emits: each ruleset goes through `--test` and then a real
 * load with both the legacy and the nft backend (IPv4 and IPv6), each inside its own throwaway
 * network namespace. The host's rulesets are snapshotted around every test and must not change.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gatedTitle,
  kernelTestGate,
  probeInNetnsSync,
  withNetns,
  type KernelGate,
  type NetnsHandle,
} from './helpers/netns.js';

const execFileAsync = promisify(execFile);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures', 'iptables');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

type Family = 'iptables' | 'ip6tables';

interface Backend {
  family: Family;
  variant: 'legacy' | 'nft';
  restore: string; // absolute path
  save: string; // absolute path
  gate: KernelGate;
}

/** Finds an executable on PATH or in the sbin folders a non-login root shell may lack. */
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const kernel = kernelTestGate();

/**
 * A backend is usable when both its tools exist and the kernel takes an empty filter table
 * from it in a throwaway namespace; otherwise its tests skip, naming why.
 */
function probeBackend(family: Family, variant: 'legacy' | 'nft'): Backend {
  const restoreName = `${family}-${variant}-restore`;
  const saveName = `${family}-${variant}-save`;
  const restore = findExecutable(restoreName);
  const save = findExecutable(saveName);
  let gate: KernelGate = kernel;
  if (gate.ok && (!restore || !save)) {
    gate = { ok: false, reason: `${restore ? saveName : restoreName} not installed` };
  }
  if (gate.ok && restore) {
    const res = probeInNetnsSync(restore, ['--test'], '*filter\nCOMMIT\n');
    if (res.code !== 0) {
      const why = res.stderr.trim().split('\n')[0] || `exit ${res.code}`;
      gate = { ok: false, reason: `${restoreName} unusable on this kernel: ${why}` };
    }
  }
  return { family, variant, restore: restore ?? restoreName, save: save ?? saveName, gate };
}

const BACKENDS: Backend[] = [
  probeBackend('iptables', 'legacy'),
  probeBackend('iptables', 'nft'),
  probeBackend('ip6tables', 'legacy'),
  probeBackend('ip6tables', 'nft'),
];

/**
 * Everything the host's firewall tools print, with what legitimately moves (timestamps in
 * comments, packet and byte counters) blanked out. Reads only; never writes host state.
 */
function hostFirewallSnapshot(): string {
  const tools: Array<[string, string[]]> = [];
  for (const name of ['iptables-save', 'ip6tables-save']) tools.push([name, []]);
  for (const b of BACKENDS) tools.push([b.save, []]);
  tools.push(['nft', ['list', 'ruleset']]);
  const parts: string[] = [];
  for (const [cmd, args] of tools) {
    const path = cmd.startsWith('/') ? cmd : findExecutable(cmd);
    if (!path) continue;
    const res = spawnSync(path, args, { encoding: 'utf8', timeout: 30_000 });
    const text = `${res.stdout ?? ''}${res.stderr ?? ''}`
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .join('\n')
      .replace(/\[\d+:\d+\]/g, '[0:0]')
      .replace(/packets \d+ bytes \d+/g, 'packets 0 bytes 0');
    parts.push(`== ${cmd} ${args.join(' ')} (exit ${res.status})\n${text}`);
  }
  return parts.join('\n');
}

/**
 * Feeds `rules` to the backend inside `ns`: `--test` first, then a real load; returns what
 * the backend's save tool lists afterwards in that namespace.
 */
async function testThenLoad(ns: NetnsHandle, backend: Backend, rules: string): Promise<string> {
  const tested = await ns.exec(backend.restore, ['--test'], { input: rules });
  expect(tested.stderr, `${backend.restore} --test stderr`).toBe('');
  expect(tested.code, `${backend.restore} --test exit`).toBe(0);

  // --test must not have loaded anything
  const before = await ns.exec(backend.save, []);
  expect(before.code).toBe(0);
  expect(before.stdout).not.toContain('PFSIM-FORWARD');

  const loaded = await ns.exec(backend.restore, [], { input: rules });
  expect(loaded.stderr, `${backend.restore} stderr`).toBe('');
  expect(loaded.code, `${backend.restore} exit`).toBe(0);

  const saved = await ns.exec(backend.save, []);
  expect(saved.code, `${backend.save} exit`).toBe(0);
  expect(saved.stdout).toMatch(/^:PFSIM-FORWARD - \[\d+:\d+\]$/m);
  return saved.stdout;
}

/** Runs one backend's check with a host snapshot before and after. */
async function checkInNetns(backend: Backend, rules: string): Promise<string> {
  const hostBefore = hostFirewallSnapshot();
  const saved = await withNetns((ns) => testThenLoad(ns, backend, rules));
  expect(hostFirewallSnapshot(), 'host firewall changed').toBe(hostBefore);
  return saved;
}

describe('hand-written fixture through real iptables-restore', () => {
  const fixtures: Record<Family, string> = {
    iptables: readFileSync(join(FIXTURES, 'sample.rules'), 'utf8'),
    ip6tables: readFileSync(join(FIXTURES, 'sample6.rules'), 'utf8'),
  };

  for (const backend of BACKENDS) {
    const restoreName = `${backend.family}-${backend.variant}-restore`;

    it.skipIf(!backend.gate.ok)(
      gatedTitle(`${restoreName} --test accepts the fixture and a real load adds PFSIM-FORWARD`, backend.gate),
      async () => {
        const saved = await checkInNetns(backend, fixtures[backend.family]);
        expect(saved).toMatch(/^-A FORWARD .*-j PFSIM-FORWARD$/m);
        expect(saved).toMatch(/--ctstate RELATED,ESTABLISHED -j ACCEPT|--ctstate ESTABLISHED,RELATED -j ACCEPT/);
        expect(saved).toContain('--dport 5000:5010');
        expect(saved).toContain('-j MARK --set-xmark 0x10000/0x10000');
        expect(saved).toMatch(/-m mark --mark 0x10000\/0x10000 .*-j RETURN/);
        expect(saved).toContain('--comment "default/demo-app-allow-samens ingress"');
      },
    );

    it.skipIf(!backend.gate.ok)(
      gatedTitle(`${restoreName} --test rejects a malformed port range`, backend.gate),
      async () => {
        const broken = '*filter\n-A FORWARD -p tcp -m tcp --dport 99999 -j ACCEPT\nCOMMIT\n';
        await withNetns(async (ns) => {
          const res = await ns.exec(backend.restore, ['--test'], { input: broken });
          expect(res.code).not.toBe(0);
          expect(res.stderr).toContain('99999');
        });
      },
    );

    // iptables-nft-restore --test only parses: a jump to an undeclared chain passes it and is
    // caught by the kernel on a real load. That is why every ruleset is also loaded for real.
    it.skipIf(!backend.gate.ok)(
      gatedTitle(`${restoreName} refuses a jump to an undeclared chain and loads nothing`, backend.gate),
      async () => {
        const broken = '*filter\n:PFSIM-FORWARD - [0:0]\n-A PFSIM-FORWARD -j PFSIM-NOWHERE\nCOMMIT\n';
        await withNetns(async (ns) => {
          const res = await ns.exec(backend.restore, [], { input: broken });
          expect(res.code).not.toBe(0);
          expect(res.stderr).toContain('PFSIM-NOWHERE');
          const saved = await ns.exec(backend.save, []);
          expect(saved.stdout).not.toContain('PFSIM-FORWARD');
        });
      },
    );
  }
});

/**
 * The CLI-built ruleset. Outside CI a missing build only skips (say why); in CI, where
 * `npm test` builds first, a missing CLI is a failure, not a skip.
 */
const cliGate: KernelGate =
  existsSync(CLI) || process.env.CI
    ? kernel
    : { ok: false, reason: 'dist/src/cli.js not built (run npm run build)' };

describe('pfsim compile output of the demo cluster through real iptables-restore', () => {
  const compiled: Partial<Record<Family, string>> = {};
  let workDir: string | undefined;

  beforeAll(async () => {
    if (!cliGate.ok || !BACKENDS.some((b) => b.gate.ok)) return;
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: npm run build did not produce the CLI`);
    workDir = mkdtempSync(join(tmpdir(), 'pfsim-iptables-'));
    const clusterDir = join(workDir, 'cluster');
    await execFileAsync(process.execPath, [CLI, 'demo', '--out', clusterDir], { cwd: ROOT });
    for (const family of ['iptables', 'ip6tables'] as const) {
      const { stdout } = await execFileAsync(
        process.execPath,
        [CLI, 'compile', '--cluster', clusterDir, '--format', family],
        { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
      );
      compiled[family] = stdout;
    }
  });

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  for (const backend of BACKENDS) {
    const restoreName = `${backend.family}-${backend.variant}-restore`;
    const gate: KernelGate = !cliGate.ok ? cliGate : backend.gate;

    it.skipIf(!gate.ok)(
      gatedTitle(`${restoreName} --test accepts compile --format ${backend.family} and loads it`, gate),
      async () => {
        const rules = compiled[backend.family];
        expect(rules, `compile --format ${backend.family} output`).toBeDefined();
        expect(rules).toContain('PFSIM-FORWARD');
        const saved = await checkInNetns(backend, rules ?? '');
        expect(saved).toMatch(/-j PFSIM-FORWARD$/m);
      },
    );
  }
});
