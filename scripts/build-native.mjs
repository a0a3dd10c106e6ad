#!/usr/bin/env node
// Builds the native addon with node-gyp against the headers of the Node.js that runs this
// script, when they are installed beside it (no download: the machine may have no internet),
// then the tc program (native/bpf/pfsim_tc.bpf.c) into native/build/bpf/pfsim_tc.bpf.o.
// The BPF object is compiled after node-gyp, whose `rebuild` empties native/build first.
// Without clang the object is skipped with a warning: the bpf engine then says it is not built.
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = dirname(dirname(process.execPath));
const args = ['rebuild', '--directory', join(root, 'native')];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  process.stderr.write('build-native: node-gyp failed (see above)\n');
  process.exit(1);
}

/** Debian's multiarch include directory for asm/types.h (clang -target bpf has no default). */
function multiarchDir() {
  const m = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' });
  const triple = m.status === 0 ? m.stdout.trim() : '';
  if (triple) return `/usr/include/${triple}`;
  const names = { x64: 'x86_64', arm64: 'aarch64', arm: 'arm', ppc64: 'powerpc64le', s390x: 's390x', riscv64: 'riscv64' };
  return `/usr/include/${names[arch()] ?? arch()}-linux-gnu`;
}

const clang = spawnSync('clang', ['--version'], { stdio: 'ignore' });
if (clang.error || clang.status !== 0) {
  process.stderr.write('build-native: warning: clang not found, BPF object not built (bpf engine unavailable)\n');
} else {
  const out = join(root, 'native', 'build', 'bpf', 'pfsim_tc.bpf.o');
  mkdirSync(dirname(out), { recursive: true });
  const b = spawnSync('clang', [
    '-O2', '-g', '-Wall', '-target', 'bpf',
    `-I${multiarchDir()}`, `-I${join(root, 'native', 'include')}`,
    '-c', join(root, 'native', 'bpf', 'pfsim_tc.bpf.c'), '-o', out,
  ], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (b.status !== 0) {
    process.stderr.write((b.stdout ?? '') + (b.stderr ?? '') + (b.error ? `${b.error.message}\n` : ''));
    process.stderr.write('build-native: clang -target bpf failed (see above)\n');
    process.exit(1);
  }
}
