/**
 * `pfsim cleanup`: removes what pfsim processes that no longer exist left behind, and only that.
 *
 * pfsim-owned objects carry their owner's pid in their name:
 *   - testbed namespaces      /run/netns/pfsim-<pid>-<hex6>-{src,node,dst}   (src/kernel/testbed.ts)
 *   - test-helper namespaces  /run/netns/pfsim-test-<pid>-<hex>              (test/helpers/netns.ts)
 *   - bpffs pins              /sys/fs/bpf/pfsim-<pid>-… or pfsim_<pid>_…    (pfsim pins nothing today)
 * An object whose owner is alive (or is this process) is never touched: it is reported as in
 * use. A pfsim* pin with no pid in its name has no owner to check and is left alone, reported.
 * Never throws: a removal that fails is reported with the tool's message.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive, runSync } from './testbed.js';

const NETNS_DIR = '/run/netns';
const BPFFS_DIR = '/sys/fs/bpf';
const TESTBED_RE = /^pfsim-(\d+)-[0-9a-f]{6}-(?:src|node|dst)$/;
const TEST_NETNS_RE = /^pfsim-test-(\d+)-[0-9a-f]+$/;
const PIN_RE = /^pfsim[-_](\d+)(?:[-_.].*)?$/;

export type ResidueKind = 'netns' | 'test-netns' | 'bpf-pin';

export interface ResidueItem {
  readonly kind: ResidueKind;
  /** namespace name, or the pin's absolute path */
  readonly name: string;
  /** owning pid, when the name carries one */
  readonly pid?: number;
}

export interface CleanupReport {
  readonly removed: ResidueItem[];
  /** owner alive: left alone */
  readonly inUse: ResidueItem[];
  /** pfsim pins without an owner pid: left alone */
  readonly unowned: ResidueItem[];
  readonly failed: (ResidueItem & { readonly error: string })[];
}

export interface CleanupOptions {
  /** default /run/netns */
  readonly netnsDir?: string;
  /** default /sys/fs/bpf */
  readonly bpffsDir?: string;
  /** default: signal 0 says the process exists */
  readonly isAlive?: (pid: number) => boolean;
}


function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Lists the pfsim-owned objects present now, each with its owner pid when known. */
export function findResidue(opts: CleanupOptions = {}): ResidueItem[] {
  const out: ResidueItem[] = [];
  for (const e of list(opts.netnsDir ?? NETNS_DIR)) {
    let m = TESTBED_RE.exec(e);
    if (m) { out.push({ kind: 'netns', name: e, pid: Number(m[1]) }); continue; }
    m = TEST_NETNS_RE.exec(e);
    if (m) out.push({ kind: 'test-netns', name: e, pid: Number(m[1]) });
  }
  const bpffs = opts.bpffsDir ?? BPFFS_DIR;
  for (const e of list(bpffs)) {
    if (!e.startsWith('pfsim')) continue;
    const m = PIN_RE.exec(e);
    out.push(m ? { kind: 'bpf-pin', name: join(bpffs, e), pid: Number(m[1]) } : { kind: 'bpf-pin', name: join(bpffs, e) });
  }
  return out;
}

/** Removes every pfsim-owned object whose owner process is dead; see the file comment. */
export function cleanupDeadOwners(opts: CleanupOptions = {}): CleanupReport {
  const alive = opts.isAlive ?? pidAlive;
  const report: CleanupReport = { removed: [], inUse: [], unowned: [], failed: [] };
  for (const item of findResidue(opts)) {
    if (item.pid === undefined) { report.unowned.push(item); continue; }
    if (item.pid === process.pid || alive(item.pid)) { report.inUse.push(item); continue; }
    if (item.kind === 'bpf-pin') {
      try {
        rmSync(item.name, { recursive: true, force: true });
        report.removed.push(item);
      } catch (e) {
        report.failed.push({ ...item, error: e instanceof Error ? e.message : String(e) });
      }
      continue;
    }
    const r = runSync('ip', ['netns', 'delete', item.name]);
    // gone already (another cleanup raced us) counts as removed by nobody: not reported
    if (r.code === 0) report.removed.push(item);
    else if (list(opts.netnsDir ?? NETNS_DIR).includes(item.name)) {
      report.failed.push({ ...item, error: r.stderr.trim().split('\n')[0] || `exit ${r.code}` });
    }
  }
  return report;
}

const KIND_LABEL: Record<ResidueKind, string> = { 'netns': 'netns', 'test-netns': 'test netns', 'bpf-pin': 'bpf pin' };

/** One line per object, then the total. */
export function renderCleanup(r: CleanupReport): string {
  const lines: string[] = [];
  for (const i of r.removed) lines.push(`removed ${KIND_LABEL[i.kind]} ${i.name} (pid ${i.pid} is gone)`);
  for (const i of r.inUse) lines.push(`kept ${KIND_LABEL[i.kind]} ${i.name}: in use by pid ${i.pid}`);
  for (const i of r.unowned) lines.push(`kept ${KIND_LABEL[i.kind]} ${i.name}: no owner pid in its name`);
  for (const i of r.failed) lines.push(`failed ${KIND_LABEL[i.kind]} ${i.name}: ${i.error}`);
  lines.push(`removed ${r.removed.length}, in use ${r.inUse.length}${r.unowned.length ? `, unowned ${r.unowned.length}` : ''}${r.failed.length ? `, failed ${r.failed.length}` : ''}`);
  return lines.join('\n') + '\n';
}
