/**
 * The libFuzzer targets (native/fuzz/, scripts/fuzz.sh) run briefly, so none rots: each is
 * built with ASan and UBSan, replays its committed seed corpus and fuzzes for a few seconds,
 * and the script must exit 0. A planted heap overflow checks the other side: a finding makes
 * the script exit 1 and say where the crashing input was saved.
 *
 * Long runs are by hand: `bash scripts/fuzz.sh --seconds 600 TARGET`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const SCRIPT = join(ROOT, 'scripts', 'fuzz.sh');
const SECONDS_PER_TARGET = 6;

/** why the targets cannot be built here (no clang, or no fuzzer runtime), or undefined */
function missingToolchain(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'pfsim-fuzz-probe-'));
  try {
    const r = spawnSync('clang', ['-fsanitize=fuzzer', '-x', 'c', '-', '-o', join(dir, 'probe')], {
      input: 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n', encoding: 'utf8',
    });
    if (r.error) return 'clang is not installed (scripts/setup.sh installs it)';
    return r.status === 0 ? undefined : "clang cannot link libFuzzer (Debian: libclang-rt-14-dev; scripts/setup.sh installs it)";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const missing = missingToolchain();
if (missing !== undefined) process.stderr.write(`fuzz-smoke: skipped: ${missing}\n`);

describe.skipIf(missing !== undefined)('fuzz targets', () => {
  let out = '';
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'pfsim-fuzz-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  /** the script, run without blocking the test worker (a minute and more of fuzzing) */
  const run = (args: readonly string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn('bash', [SCRIPT, ...args], { env: { ...process.env, FUZZ_OUT: join(out, args.join('-')), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '', stderr = '';
      child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it(`every target: builds, replays its seeds, fuzzes ${SECONDS_PER_TARGET} s without a finding`, async () => {
    const targets = spawnSync('bash', [SCRIPT, '--list'], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(targets).toEqual(expect.arrayContaining(['capture', 'decode', 'frame', 'lpm', 'classify', 'classify_grouped', 'classifier_load']));
    const r = await run(['--seconds', String(SECONDS_PER_TARGET)]);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    for (const t of targets) expect(r.stdout).toMatch(new RegExp(`^${t}: ok, \\d+ runs in ${SECONDS_PER_TARGET} s`, 'm'));
  }, 180_000);

  it('a finding exits 1 and names the saved input', async () => {
    const r = await run(['--seconds', '30', 'decode'], { FUZZ_CFLAGS: '-DPFSIM_FUZZ_SELFTEST' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stdout).toMatch(/AddressSanitizer: heap-buffer-overflow/);
    const saved = /input saved to: (\S+)/.exec(r.stdout);
    expect(saved, r.stdout).not.toBeNull();
    expect(existsSync(saved![1]!)).toBe(true);
    expect(r.stderr).toContain('findings in: decode');
  }, 60_000);

  it('bad arguments are refused', async () => {
    expect((await run(['--seconds', '0'])).status).toBe(2);
    expect((await run(['no-such-target'])).status).toBe(2);
  });
});
