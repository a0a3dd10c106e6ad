import { describe, expect, it } from 'vitest';
import { createNetns, gatedTitle, kernelTestGate, listNetns, withNetns } from './helpers/netns.js';

const gate = kernelTestGate();

describe('netns helper', () => {
  it('kernelTestGate gives a reason whenever it refuses', () => {
    if (!gate.ok) expect(gate.reason).not.toBe('');
    else expect(gate).toEqual({ ok: true });
  });

  it.skipIf(!gate.ok)(gatedTitle('creates a pfsim-owned namespace listed by ip netns list', gate), async () => {
    const ns = await createNetns();
    try {
      expect(ns.name).toMatch(new RegExp(`^pfsim-test-${process.pid}-[0-9a-f]+$`));
      expect(await listNetns()).toContain(ns.name);
    } finally {
      await ns.remove();
    }
    expect(await listNetns()).not.toContain(ns.name);
  });

  it.skipIf(!gate.ok)(gatedTitle('runs commands inside the namespace, which holds only lo', gate), async () => {
    await withNetns(async (ns) => {
      const res = await ns.exec('ip', ['-o', 'link', 'show']);
      expect(res.code).toBe(0);
      const names = res.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(':')[1]?.trim().split('@')[0]);
      expect(names).toEqual(['lo']);
    });
  });

  it.skipIf(!gate.ok)(gatedTitle('passes stdin and reports a non-zero exit without throwing', gate), async () => {
    await withNetns(async (ns) => {
      const echoed = await ns.exec('cat', [], { input: 'hello from the host\n' });
      expect(echoed).toEqual({ stdout: 'hello from the host\n', stderr: '', code: 0 });
      const failed = await ns.exec('sh', ['-c', 'echo oops >&2; exit 3']);
      expect(failed.code).toBe(3);
      expect(failed.stderr).toBe('oops\n');
    });
  });

  it.skipIf(!gate.ok)(gatedTitle('removes the namespace even when the callback throws', gate), async () => {
    let name = '';
    await expect(
      withNetns(async (ns) => {
        name = ns.name;
        throw new Error('test body failed');
      }),
    ).rejects.toThrow('test body failed');
    expect(name).not.toBe('');
    expect(await listNetns()).not.toContain(name);
  });

  it.skipIf(!gate.ok)(gatedTitle('remove() is idempotent and exec after it rejects', gate), async () => {
    const ns = await createNetns();
    await ns.remove();
    await ns.remove();
    await expect(ns.exec('true')).rejects.toThrow(/was removed/);
  });
});
