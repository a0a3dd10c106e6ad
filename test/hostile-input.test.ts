/**
 * Hostile and broken input through the CLI: every file of the committed corpus
 * (test/fixtures/hostile/INDEX.json, written by make-corpus.mjs) gets the outcome its index
 * entry states, and every run ends the way a user can trust: an exit code, at most one line
 * on stderr naming the file and the byte offset (captures) or the document and field
 * (manifests), no stack trace, no signal, within a time limit and a memory bound. Huge inputs
 * too large to commit are generated here.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCluster } from '../src/cluster/load.js';
import { CLI, ROOT } from './helpers/cli.js';

const CORPUS = join(ROOT, 'test', 'fixtures', 'hostile');
const CLUSTER = join(CORPUS, 'cluster.yaml');
/** a run that takes longer is a hang */
const TIME_LIMIT_MS = 30_000;
/** generous: a CLI run on a small file stays near Node's own ~60 MB */
const RSS_LIMIT_KB = 512 * 1024;

interface CaptureEntry {
  readonly file: string;
  readonly what: string;
  readonly kind: 'capture';
  readonly error?: { readonly offset: number; readonly message: string };
  readonly keepGoing?: 'error' | Counts;
  readonly packets?: number;
  readonly judged?: number;
  readonly skipped?: Readonly<Record<string, number>>;
  readonly verdicts?: readonly string[];
}
interface ManifestEntry {
  readonly file: string;
  readonly what: string;
  readonly kind: 'manifest';
  readonly error: { readonly code: string; readonly parts: readonly string[] };
}
interface Counts {
  readonly packets: number;
  readonly judged: number;
  readonly skipped: Readonly<Record<string, number>>;
}

const index = JSON.parse(readFileSync(join(CORPUS, 'INDEX.json'), 'utf8')) as { files: (CaptureEntry | ManifestEntry)[] };
const captures = index.files.filter((e): e is CaptureEntry => e.kind === 'capture');
const manifests = index.files.filter((e): e is ManifestEntry => e.kind === 'manifest');

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** peak resident memory of the CLI process, KiB */
  readonly maxRssKb: number;
  readonly ms: number;
}

// reports the CLI's peak RSS on fd 3 as it exits, without touching its stdout or stderr; the
// module is loaded in worker threads too, and only the main thread reports (for the process)
const RSS_PROBE = 'data:text/javascript,import{writeSync}from"node:fs";import{isMainThread}from"node:worker_threads";'
  + 'if(isMainThread)process.on("exit",()=>{try{writeSync(3,String(process.resourceUsage().maxRSS))}catch{}})';

function cli(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(process.execPath, ['--import', RSS_PROBE, CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [], err: Buffer[] = [], rss: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => rss.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(),
        maxRssKb: Number(Buffer.concat(rss).toString() || NaN), ms: Date.now() - start,
      });
    });
  });
}

/** What every run must be: ended by itself, in time, within the memory bound, no stack trace. */
function expectWellBehaved(r: Run, what: string): void {
  expect(r.signal, `${what}: killed by a signal (a crash, or a hang past ${TIME_LIMIT_MS} ms)`).toBeNull();
  expect(r.ms, what).toBeLessThan(TIME_LIMIT_MS);
  expect(r.maxRssKb, `${what}: peak RSS`).toBeLessThan(RSS_LIMIT_KB);
  expect(r.stderr, `${what}: a stack trace`).not.toMatch(/^\s+at /m);
  expect(r.stderr, what).not.toMatch(/internal error/);
}

/** stderr is exactly one line; returns it */
function oneLine(r: Run, what: string): string {
  const lines = r.stderr.split('\n');
  expect(lines.length === 2 && lines[1] === '', `${what}: stderr is not one line:\n${r.stderr}`).toBe(true);
  return lines[0]!;
}

/** The verdict summary line: `packets in N = judged J + skipped S (reason n, ...)`. */
function summaryCounts(stdout: string): Counts & { skippedTotal: number } {
  const m = /packets in (\d+) = judged (\d+) \+ skipped (\d+)(?: \(([^)]*)\))?/.exec(stdout);
  if (m === null) throw new Error(`no summary line in:\n${stdout}`);
  const skipped: Record<string, number> = {};
  for (const part of (m[4] ?? '').split(', ').filter(Boolean)) {
    const [reason, n] = part.split(' ');
    skipped[reason!] = Number(n);
  }
  return { packets: Number(m[1]), judged: Number(m[2]), skippedTotal: Number(m[3]), skipped };
}

function expectCounts(stdout: string, want: Counts, what: string): void {
  const got = summaryCounts(stdout);
  // nothing silently lost: in = judged + skipped, and the reasons add up to the skips
  expect(got.packets, what).toBe(got.judged + got.skippedTotal);
  expect(Object.values(got.skipped).reduce((a, b) => a + b, 0), what).toBe(got.skippedTotal);
  expect({ packets: got.packets, judged: got.judged, skipped: got.skipped }, what).toEqual(want);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/* one worker: the reader and the CLI are under test here, and the pool's start-up would double each run */
const verdictArgs = (file: string, extra: readonly string[] = []): string[] =>
  ['verdict', '--cluster', CLUSTER, '--engines', 'chain,maps', '--workers', '1', '--pcap', file, ...extra];

describe('the corpus', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pfsim-hostile-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is what make-corpus.mjs writes, and every file has an index line', async () => {
    const gen = await new Promise<number | null>((resolve) => {
      spawn(process.execPath, [join(CORPUS, 'make-corpus.mjs'), dir], { stdio: 'ignore' }).on('close', resolve);
    });
    expect(gen).toBe(0);
    const listed = new Set(index.files.map((e) => e.file));
    for (const sub of ['captures', 'manifests']) {
      for (const name of readdirSync(join(CORPUS, sub))) {
        const file = `${sub}/${name}`;
        expect(listed.has(file), `${file} is not in INDEX.json`).toBe(true);
        expect(readFileSync(join(dir, file)).equals(readFileSync(join(CORPUS, file))), `${file} differs from the generator's`).toBe(true);
      }
    }
    expect(readFileSync(join(dir, 'INDEX.json'), 'utf8')).toBe(readFileSync(join(CORPUS, 'INDEX.json'), 'utf8'));
    expect(readFileSync(join(dir, 'cluster.yaml'), 'utf8')).toBe(readFileSync(CLUSTER, 'utf8'));
    for (const e of index.files) expect(e.what.includes('\n'), e.file).toBe(false);
    expect(captures.length).toBeGreaterThan(50);
    expect(manifests.length).toBeGreaterThan(80);
  });
});

describe.concurrent('captures: verdict --pcap, with and without --keep-going', () => {
  for (const e of captures) {
    it(`${e.file}: ${e.what}`, async () => {
      const file = join(CORPUS, e.file);
      const plain = await cli(verdictArgs(file));
      expectWellBehaved(plain, e.file);
      const kept = await cli(verdictArgs(file, ['--keep-going']));
      expectWellBehaved(kept, `${e.file} --keep-going`);

      if (e.error !== undefined) {
        const prefix = `pfsim: ${file}: byte offset ${e.error.offset}: `;
        expect(plain.code, e.file).toBe(1);
        const line = oneLine(plain, e.file);
        expect(line).toMatch(new RegExp(`^${escape(prefix)}`));
        expect(line).toContain(e.error.message);
        if (e.keepGoing === 'error') {
          // a bad file header: nothing to keep going with
          expect(kept.code, e.file).toBe(1);
          expect(oneLine(kept, e.file)).toBe(line);
        } else {
          expect(kept.code, `${e.file} --keep-going: ${kept.stderr}`).toBe(0);
          const warning = oneLine(kept, e.file);
          expect(warning).toMatch(new RegExp(`^pfsim: warning: ${escape(`${file}: byte offset ${e.error.offset}: `)}`));
          expect(warning).toContain(e.error.message);
          expectCounts(kept.stdout, e.keepGoing!, e.file);
        }
        return;
      }
      // per-packet skips are counted, never an error, with or without --keep-going
      for (const r of [plain, kept]) {
        expect(r.code, `${e.file}: ${r.stderr}`).toBe(0);
        expect(r.stderr, e.file).toBe('');
        expectCounts(r.stdout, { packets: e.packets!, judged: e.judged!, skipped: e.skipped! }, e.file);
      }
      if (e.verdicts !== undefined) {
        const json = await cli(verdictArgs(file, ['--json']));
        expectWellBehaved(json, e.file);
        const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; agree: boolean });
        expect(lines.map((l) => l.verdict), e.file).toEqual(e.verdicts);
        expect(lines.every((l) => l.agree), e.file).toBe(true);
      }
    });
  }

  it('through the worker pool (the default), damage is the same error, and the same count with --keep-going', async () => {
    for (const name of ['pcap-caplen-4g.pcap', 'pcapng-block-2g.pcapng']) {
      const e = captures.find((c) => c.file === `captures/${name}`)!;
      const file = join(CORPUS, e.file);
      const args = ['verdict', '--cluster', CLUSTER, '--engines', 'chain,maps', '--workers', '2', '--pcap', file];
      const plain = await cli(args);
      expectWellBehaved(plain, name);
      expect(plain.code).toBe(1);
      expect(oneLine(plain, name)).toContain(`${file}: byte offset ${e.error!.offset}: ${e.error!.message}`);
      const kept = await cli([...args, '--keep-going']);
      expectWellBehaved(kept, name);
      expect(kept.code, kept.stderr).toBe(0);
      expect(oneLine(kept, name)).toContain(`warning: ${file}: byte offset ${e.error!.offset}`);
      expectCounts(kept.stdout, e.keepGoing as Counts, name);
    }
  });

  it('replay --keep-going counts the damage in its summary too', async () => {
    const file = join(CORPUS, 'captures', 'pcap-caplen-4g.pcap');
    const r = await cli(['replay', '--cluster', CLUSTER, '--engines', 'chain,maps', '--pcap', file, '--keep-going']);
    expectWellBehaved(r, 'replay');
    expect(r.code).toBe(0);
    expect(oneLine(r, 'replay')).toMatch(/^pfsim: warning: .*byte offset 102: record caplen 4294967295/);
    expectCounts(r.stdout, { packets: 2, judged: 1, skipped: { 'file-error': 1 } }, 'replay');
    const fails = await cli(['replay', '--cluster', CLUSTER, '--engines', 'chain,maps', '--pcap', file]);
    expect(fails.code).toBe(1);
    expect(oneLine(fails, 'replay')).toBe(`pfsim: ${file}: byte offset 102: record caplen 4294967295 exceeds 262144`);
  });

  it('--keep-going with --flows is a usage error', async () => {
    const r = await cli(['verdict', '--cluster', CLUSTER, '--flows', CLUSTER, '--keep-going']);
    expect(r.code).toBe(2);
    expect(oneLine(r, 'usage')).toContain('--keep-going applies to --pcap');
  });
});

describe.concurrent('manifests: compile --cluster', () => {
  for (const e of manifests) {
    it(`${e.file}: ${e.what}`, async () => {
      const file = join(CORPUS, e.file);
      const r = await cli(['compile', '--cluster', file]);
      expectWellBehaved(r, e.file);
      expect(r.code, e.file).toBe(1);
      expect(r.stdout, e.file).toBe('');
      const line = oneLine(r, e.file);
      expect(line.startsWith(`pfsim: ${file}: `), line).toBe(true);
      for (const part of e.error.parts) expect(line, e.file).toContain(part);
      expect(() => loadCluster([file])).toThrow(expect.objectContaining({ code: e.error.code }));
    });
  }
});

describe('huge inputs, generated', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pfsim-huge-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** writes `head` and then `line` until the file has at least `bytes` */
  function writeRepeated(path: string, head: string, line: string, bytes: number, tail = ''): void {
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, head);
      const block = line.repeat(Math.max(1, Math.floor((1 << 20) / line.length)));
      for (let n = head.length; n < bytes; n += block.length) writeSync(fd, block);
      writeSync(fd, tail);
    } finally {
      closeSync(fd);
    }
  }

  it('a 64 MiB YAML document is refused before parsing: one line naming the file and the line it starts on', async () => {
    const path = join(dir, 'huge-list.yaml');
    writeRepeated(path, 'apiVersion: v1\nkind: List\nitems:\n', '- {apiVersion: v1, kind: Namespace, metadata: {name: n}}\n', 64 << 20);
    const r = await cli(['compile', '--cluster', path]);
    expectWellBehaved(r, 'huge YAML');
    expect(r.code).toBe(1);
    expect(oneLine(r, 'huge YAML')).toMatch(new RegExp(`^pfsim: ${escape(path)}: line 1: a YAML document of \\d+ characters is over the \\d+-character limit for YAML`));
  }, 60_000);

  it('a file over 256 MiB is refused before it is read', async () => {
    const path = join(dir, 'sparse.json');
    const fd = openSync(path, 'w');
    writeSync(fd, '{', (256 << 20) + 1);
    closeSync(fd);
    const r = await cli(['compile', '--cluster', path]);
    expectWellBehaved(r, 'sparse');
    expect(r.code).toBe(1);
    expect(oneLine(r, 'sparse')).toBe(`pfsim: ${path}: ${(256 << 20) + 2} bytes is larger than the ${256 << 20}-byte limit`);
  });

  // the JSON of a large kubectl dump used to go through the YAML parser and end the process
  // out of heap (signal 6) at 170 MB; JSON.parse reads it in a fraction of the memory
  it('a 40 MB kind: List in JSON compiles with bounded memory', async () => {
    const path = join(dir, 'big-list.json');
    const pod = (i: number) => JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: 'prod', labels: { app: `a${i % 100}` } },
      spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80, name: 'http' }] }] },
      status: { podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    });
    const fd = openSync(path, 'w');
    let n = 0;
    try {
      writeSync(fd, '{"apiVersion": "v1", "kind": "List", "items": [\n');
      for (let size = 0; size < 40e6; n++) {
        const s = `${n ? ',\n' : ''}${pod(n)}`;
        writeSync(fd, s);
        size += s.length;
      }
      writeSync(fd, '\n]}\n');
    } finally {
      closeSync(fd);
    }
    const r = await cli(['compile', '--cluster', path, '--format', 'plan']);
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(r.maxRssKb).toBeLessThan(1536 * 1024);
    expect((JSON.parse(r.stdout) as { pods: unknown[] }).pods).toHaveLength(n);
  }, 120_000);
});
