/** Engine registry: builds engines by their stable names from one compiled plan. */
import { PfsimError } from '../errors.js';
import type { Plan } from '../compile/plan.js';
import { ChainEngine } from './chain.js';
import { MapsEngine } from './maps.js';
import { type Engine, type EngineName, type EngineOptions, ENGINE_NAMES } from './engine.js';

export function createEngine(name: EngineName, plan: Plan, opts: EngineOptions): Engine {
  switch (name) {
    case 'chain': return new ChainEngine(plan, opts);
    case 'maps': return new MapsEngine(plan, opts);
  }
}

/** Parses an --engines value: comma-separated names, or "all" for every engine available here. */
export function parseEngineList(spec: string): EngineName[] {
  if (spec.trim() === 'all') return [...ENGINE_NAMES];
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', '--engines: no engine named');
  for (const n of names) {
    if (!(ENGINE_NAMES as readonly string[]).includes(n)) {
      throw new PfsimError('PFSIM_ERR_USAGE', `--engines: unknown engine "${n}" (known: ${ENGINE_NAMES.join(', ')}, all)`);
    }
  }
  return [...new Set(names)] as EngineName[];
}
