/** Engine registry: builds engines by their stable names from one compiled plan. */
import { PfsimError } from '../errors.js';
import type { Plan } from '../compile/plan.js';
import { AwsEngine } from './aws.js';
import { BpfEngine, bpfAvailability } from './bpf.js';
import { ChainEngine } from './chain.js';
import { MapsEngine } from './maps.js';
import { IptablesEngine, NftEngine, netfilterAvailability } from './netfilter.js';
import { TcEngine, tcAvailability } from './tc.js';
import { type Engine, type EngineName, type EngineOptions, ENGINE_NAMES } from './engine.js';

export function createEngine(name: EngineName, plan: Plan, opts: EngineOptions): Engine {
  switch (name) {
    case 'chain': return new ChainEngine(plan, opts);
    case 'maps': return new MapsEngine(plan, opts);
    case 'bpf': return new BpfEngine(plan, opts);
    case 'iptables': return new IptablesEngine(plan, opts);
    case 'nft': return new NftEngine(plan, opts);
    case 'tc': return new TcEngine(plan, opts);
    case 'aws': return new AwsEngine(plan, opts);
  }
}

/** Whether engine `name` can run on this machine; chain, maps and aws always can, kernel engines are probed. */
export function engineAvailability(name: EngineName): { ok: true } | { ok: false; reason: string } {
  if (name === 'bpf') return bpfAvailability();
  if (name === 'iptables') return netfilterAvailability('legacy');
  if (name === 'nft') return netfilterAvailability('nft');
  if (name === 'tc') return tcAvailability();
  return { ok: true };
}

/**
 * Parses an --engines value: comma-separated names, or "all" for every engine available
 * here. Throws PfsimError PFSIM_ERR_USAGE for an unknown name, PFSIM_ERR_UNSUPPORTED for a
 * named engine this machine cannot run ("bpf: unavailable: <reason>").
 */
export function parseEngineList(spec: string): EngineName[] {
  if (spec.trim() === 'all') return ENGINE_NAMES.filter((n) => engineAvailability(n).ok);
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new PfsimError('PFSIM_ERR_USAGE', '--engines: no engine named');
  for (const n of names) {
    if (!(ENGINE_NAMES as readonly string[]).includes(n)) {
      throw new PfsimError('PFSIM_ERR_USAGE', `--engines: unknown engine "${n}" (known: ${ENGINE_NAMES.join(', ')}, all)`);
    }
  }
  const unique = [...new Set(names)] as EngineName[];
  for (const n of unique) {
    const a = engineAvailability(n);
    if (!a.ok) throw new PfsimError('PFSIM_ERR_UNSUPPORTED', `${n}: unavailable: ${a.reason}`);
  }
  return unique;
}
