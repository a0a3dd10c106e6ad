/**
 * Command-line counts (--workers, --max-flows, --ct-max, --max-rules): digits only, at least 1,
 * at most `max`. A bad value is one PFSIM_ERR_USAGE line naming the option and the text given.
 */
import { PfsimError } from './errors.js';

/** `text` as a count in 1..max; without `max`, any safe integer from 1 on. */
export function parseCount(option: string, text: string, max?: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (max === undefined) {
    if (!(n >= 1 && Number.isSafeInteger(n))) throw new PfsimError('PFSIM_ERR_USAGE', `${option}: "${text}" is not a positive integer`);
  } else if (!(n >= 1 && n <= max)) {
    throw new PfsimError('PFSIM_ERR_USAGE', `${option}: "${text}" is not an integer in 1..${max}`);
  }
  return n;
}
