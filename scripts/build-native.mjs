#!/usr/bin/env node
// Builds the native addon with node-gyp against the headers of the Node.js that runs this
// script, when they are installed beside it (no download: the machine may have no internet).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const prefix = dirname(dirname(process.execPath));
const args = ['rebuild', '--directory', 'native'];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  process.stderr.write('build-native: node-gyp failed (see above)\n');
  process.exit(1);
}
