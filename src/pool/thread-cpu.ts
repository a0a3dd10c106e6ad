/**
 * The calling thread's time on a CPU, for the pool's per-worker accounting (the bench shows
 * what splitting costs, and whether the host ran the cores at unequal speeds). Linux gives
 * it in nanoseconds as the first field of /proc/thread-self/schedstat; elsewhere, or when the
 * file cannot be read, there is no figure (undefined), never a guess.
 */
import { readFileSync } from 'node:fs';

/** Milliseconds this thread has run on a CPU since it started, or undefined. */
export function threadCpuMs(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/thread-self/schedstat', 'latin1');
  } catch {
    return undefined;
  }
  const ns = Number(text.slice(0, text.indexOf(' ')));
  return Number.isFinite(ns) && ns >= 0 ? ns / 1e6 : undefined;
}
