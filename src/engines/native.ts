/**
 * The native addon (native/build/Release/pfsim.node): a maps classifier in C behind N-API.
 * Loaded once per thread from the package root, whether this file runs from src/ (vitest,
 * tsx) or dist/src/ (after tsc). Throws PfsimError PFSIM_ERR_NATIVE when the addon is not
 * built; the addon's own errors carry code PFSIM_ERR_NATIVE and name the argument and index.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PfsimError, wrapError } from '../errors.js';

export interface ClassifierOptions {
  /** conntrack slots, a power of two from 8 to 2^28 (default 1 << 20) */
  readonly ctCapacity?: number;
  /** conntrack entries at most (nf_conntrack_max), 1 to 7/8 of ctCapacity (the default) */
  readonly ctMax?: number;
}

export interface ClassifierStats {
  readonly ctEntries: number;
  readonly ctCapacity: number;
  /** new connections refused (their packets dropped): full of assured entries, since the last reset */
  readonly ctInsertFailed: number;
  readonly ctMax: number;
  /** unassured entries dropped to make room (netfilter's early_drop) */
  readonly ctEarlyDrops: number;
  /** entries removed because their timeout passed */
  readonly ctExpired: number;
  readonly lpmBytes: number;
}

/** What the map-based classifiers share: loading the layout.ts arrays, judging pf_pkt batches. */
export interface MapsClassifier {
  /** Replaces the loaded maps with the arrays of src/compile/layout.ts (MapsLayout order). */
  load(
    podAddrs: Uint8Array,
    podStates: Uint32Array,
    trieCount: number,
    entryKeys: Uint8Array,
    entryTries: Uint32Array,
    entryValues: Uint32Array,
    values: Uint8Array,
    ext: Uint8Array,
  ): void;
  /**
   * Judges `count` pf_pkt records into `out`, four words each (see engine.ts). `times` (host
   * classifier only): each packet's trace second, for conntrack aging.
   */
  classifyBatch(pkts: Uint8Array, count: number, out: Uint32Array, stateful: boolean, times?: Uint32Array): void;
  resetConntrack(): void;
  /** Frees the native state now; any later call throws. */
  close(): void;
}

/** One native classifier instance: its own maps and conntrack, usable from one thread. */
export interface NativeClassifier extends MapsClassifier {
  stats(): ClassifierStats;
}

export interface NativeAddon {
  readonly Classifier: new (opts?: ClassifierOptions) => NativeClassifier;
}

export const ADDON_PATH = join('native', 'build', 'Release', 'pfsim.node');

let addon: NativeAddon | undefined;

function isPfsimPackage(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'pfsim';
  } catch {
    return false;
  }
}

/** The directory holding pfsim's package.json, walking up from this module. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (isPfsimPackage(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new PfsimError('PFSIM_ERR_NATIVE', 'native addon: no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Loads the addon (once per thread). */
export function loadNative(): NativeAddon {
  if (addon) return addon;
  const file = join(packageRoot(), ADDON_PATH);
  if (!existsSync(file)) throw new PfsimError('PFSIM_ERR_NATIVE', 'native addon not built: run npm run build');
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (err) {
    throw wrapError(`load native addon ${file}`, err);
  }
  return addon;
}

/**
 * The addon's function `name` (typed by the caller), or PfsimError PFSIM_ERR_NATIVE when the
 * addon that was built has none (an older build).
 */
export function nativeFunction<F>(name: string): F {
  const f = (loadNative() as unknown as Record<string, unknown>)[name];
  if (typeof f !== 'function') throw new PfsimError('PFSIM_ERR_NATIVE', `native addon has no ${name}: run npm run build`);
  return f as F;
}

/** A new native classifier. */
export function createClassifier(opts: ClassifierOptions = {}): NativeClassifier {
  const { Classifier } = loadNative();
  if (opts.ctCapacity === undefined && opts.ctMax === undefined) return new Classifier();
  return new Classifier({ ...(opts.ctCapacity === undefined ? {} : { ctCapacity: opts.ctCapacity }), ...(opts.ctMax === undefined ? {} : { ctMax: opts.ctMax }) });
}
