/**
 * `pfsim doctor`: what this machine offers the kernel engines. Every probe is read-only and
 * never throws; a missing tool or file is reported, not an error. The engine lines come from
 * engineAvailability(), so they say exactly what `--engines` would say.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { engineAvailability } from '../engines/index.js';
import { ENGINE_NAMES, type EngineName } from '../engines/engine.js';
import { runSync } from './testbed.js';

/** capability numbers from linux/capability.h */
export const CAPABILITIES = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_BPF: 39 } as const;
export type CapabilityName = keyof typeof CAPABILITIES;

export interface ToolInfo {
  readonly present: boolean;
  /** the tool's own version line (or the package version), when present */
  readonly version?: string;
}

export interface DoctorReport {
  readonly kernel: string;
  readonly btf: { readonly present: boolean; readonly path: string };
  readonly capabilities: { readonly effective: string | null } & Record<CapabilityName, boolean>;
  readonly bpffs: { readonly mounted: boolean; readonly path: string };
  readonly clang: ToolInfo;
  readonly libbpf: ToolInfo & { readonly source?: 'pkg-config' | 'dpkg' };
  readonly iptables: { readonly legacy: ToolInfo & { readonly tool: string }; readonly nft: ToolInfo & { readonly tool: string } };
  readonly engines: Record<EngineName, { readonly available: true } | { readonly available: false; readonly reason: string }>;
}

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const BPFFS_PATH = '/sys/fs/bpf';

function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.trim() ?? '';
}

/** CapEff of this process as a bigint, or null when /proc/self/status cannot say. */
export function effectiveCapabilities(status?: string): bigint | null {
  let text = status;
  if (text === undefined) {
    try { text = readFileSync('/proc/self/status', 'utf8'); } catch { return null; }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  return m ? BigInt(`0x${m[1]}`) : null;
}

/** Whether /sys/fs/bpf is a bpf filesystem mount (per /proc/self/mounts). */
function bpffsMounted(): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n')
      .some((l) => { const f = l.split(' '); return f[1] === BPFFS_PATH && f[2] === 'bpf'; });
  } catch {
    return false;
  }
}

function toolVersion(cmd: string, args: readonly string[]): ToolInfo {
  const r = runSync(cmd, args, undefined, 10_000);
  if (r.code === -1 && r.stderr.startsWith(`spawn ${cmd}`)) return { present: false };
  const line = firstLine(r.stdout) || firstLine(r.stderr);
  return line ? { present: true, version: line } : { present: true };
}

function libbpfVersion(): DoctorReport['libbpf'] {
  const pc = runSync('pkg-config', ['--modversion', 'libbpf'], undefined, 10_000);
  if (pc.code === 0 && firstLine(pc.stdout)) return { present: true, version: firstLine(pc.stdout), source: 'pkg-config' };
  for (const pkg of ['libbpf1', 'libbpf0', 'libbpf-dev']) {
    const d = runSync('dpkg-query', ['-W', '-f', '${Status}\t${Version}', pkg], undefined, 10_000);
    const [status, version] = d.stdout.split('\t');
    if (d.code === 0 && status?.includes('installed') && status.includes('ok') && version) {
      return { present: true, version: version.trim(), source: 'dpkg' };
    }
  }
  return { present: false };
}

/** Runs every probe (the engine probes build and remove a testbed each, as root). */
export function doctor(): DoctorReport {
  const cap = effectiveCapabilities();
  const has = (n: CapabilityName) => cap !== null && ((cap >> BigInt(CAPABILITIES[n])) & 1n) === 1n;
  const engines = {} as Record<EngineName, { available: true } | { available: false; reason: string }>;
  for (const name of ENGINE_NAMES) {
    let a: ReturnType<typeof engineAvailability>;
    try { a = engineAvailability(name); } catch (e) { a = { ok: false, reason: e instanceof Error ? e.message : String(e) }; }
    engines[name] = a.ok ? { available: true } : { available: false, reason: a.reason };
  }
  return {
    kernel: release(),
    btf: { present: existsSync(BTF_PATH), path: BTF_PATH },
    capabilities: {
      effective: cap === null ? null : `0x${cap.toString(16).padStart(16, '0')}`,
      CAP_BPF: has('CAP_BPF'), CAP_NET_ADMIN: has('CAP_NET_ADMIN'), CAP_SYS_ADMIN: has('CAP_SYS_ADMIN'),
    },
    bpffs: { mounted: bpffsMounted(), path: BPFFS_PATH },
    clang: toolVersion(process.env.CLANG ?? 'clang', ['--version']),
    libbpf: libbpfVersion(),
    iptables: {
      legacy: { tool: 'iptables-legacy-restore', ...toolVersion('iptables-legacy-restore', ['--version']) },
      nft: { tool: 'iptables-nft-restore', ...toolVersion('iptables-nft-restore', ['--version']) },
    },
    engines,
  };
}

/** The report as aligned text lines. */
export function renderDoctor(r: DoctorReport): string {
  const yn = (b: boolean) => (b ? 'yes' : 'no');
  const tool = (t: ToolInfo) => (t.present ? (t.version ?? 'present') : 'not found');
  const rows: [string, string][] = [
    ['kernel', r.kernel],
    ['BTF', `${r.btf.present ? 'present' : 'missing'} (${r.btf.path})`],
    ['capabilities', (['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'] as const).map((c) => `${c}=${yn(r.capabilities[c])}`).join(' ')
      + (r.capabilities.effective === null ? ' (CapEff unreadable)' : ` (CapEff ${r.capabilities.effective})`)],
    ['bpffs', `${r.bpffs.mounted ? 'mounted' : 'not mounted'} (${r.bpffs.path})`],
    ['clang', tool(r.clang)],
    ['libbpf', r.libbpf.present ? `${r.libbpf.version ?? 'present'} (${r.libbpf.source})` : 'not found'],
    [r.iptables.legacy.tool, tool(r.iptables.legacy)],
    [r.iptables.nft.tool, tool(r.iptables.nft)],
    ...Object.entries(r.engines).map(([n, a]): [string, string] => [`engine ${n}`, a.available ? 'available' : `unavailable: ${a.reason}`]),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}
