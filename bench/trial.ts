/** Runs one benchmark trial in this (fresh) process and prints its figures as one JSON line. */
import { benchChain } from './chain.js';
import { benchMaps } from './maps.js';

const [engine, size, repeats] = process.argv.slice(2);
const n = Number(size);
const r = repeats ? Number(repeats) : undefined;
if (!Number.isInteger(n) || n <= 0) {
  process.stderr.write(`trial: bad size "${size}"\n`);
  process.exit(2);
}
switch (engine) {
  case 'chain': process.stdout.write(JSON.stringify({ engine, ...benchChain(n, r) }) + '\n'); break;
  case 'maps': process.stdout.write(JSON.stringify({ engine, ...benchMaps(n, r) }) + '\n'); break;
  default:
    process.stderr.write(`trial: unknown engine "${engine}"\n`);
    process.exit(2);
}
