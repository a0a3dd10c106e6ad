import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pfsim } from './helpers/cli.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pfsim-cli-'));
  const r = pfsim(['demo', '--out', join(dir, 'demo'), '--traces', join(dir, 'traces'), '--engines', 'chain,maps']);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pfsim CLI', () => {
  for (const cmd of [[], ['demo'], ['compile'], ['verdict']]) {
    it(`--help works for "pfsim ${cmd.join(' ')}"`, () => {
      const r = pfsim([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: pfsim/);
    });
  }

  it('demo shows who reaches demo-app under each policy set', () => {
    const r = pfsim(['demo', '--out', join(dir, 'demo2'), '--traces', join(dir, 'traces2')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^deny-all\s+deny\s+deny\s+deny\s+deny\s*$/m);
    expect(r.stdout).toMatch(/^deny-all \+ allow-client-one\s+allow\s+deny\s+deny\s+deny\s*$/m);
    expect(r.stdout).toMatch(/All engines agree/);
  });

  it('verdict --json prints one object per flow with the contract fields', () => {
    const flows = join(dir, 'flows.jsonl');
    writeFileSync(flows, [
      '{"src":"10.244.0.11","dst":"10.244.0.10","proto":"TCP","sport":40001,"dport":80}',
      '{"src":"10.244.0.13","dst":"10.244.0.10","proto":"tcp","sport":40002,"dport":80}',
    ].join('\n'));
    const r = pfsim(['verdict', '--cluster', join(dir, 'demo', 'cluster.yaml'), '--cluster', join(dir, 'demo', 'policies', 'demo-app-deny-all.yaml'),
      '--cluster', join(dir, 'demo', 'policies', 'demo-app-allow-samens.yaml'), '--flows', flows, '--engines', 'chain,maps', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { index: 0, verdict: 'allow', engines: { chain: 'allow', maps: 'allow' }, agree: true, reason: 'allowed by default/demo-app-allow-samens ingress' },
      { index: 1, verdict: 'deny', engines: { chain: 'deny', maps: 'deny' }, agree: true, reason: 'default deny ingress default/demo-app-6d8f7c9b5-x7k2p' },
    ]);
  });

  it('compile --format iptables prints an iptables-restore ruleset', () => {
    const r = pfsim(['compile', '--cluster', join(dir, 'demo'), '--format', 'iptables']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\*filter$/m);
    expect(r.stdout).toMatch(/^-A PFSIM-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED .*-j ACCEPT$/m);
    expect(r.stdout).toMatch(/^COMMIT$/m);
  });

  it('compile --format maps prints the map dump', () => {
    const r = pfsim(['compile', '--cluster', join(dir, 'demo'), '--format', 'maps']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^map pod_state/m);
    expect(r.stdout).toMatch(/type lpm_trie/);
  });

  describe('errors: one line naming the file and field, non-zero exit, no stack', () => {
    it('bad CIDR in a policy', () => {
      const f = join(dir, 'bad.yaml');
      writeFileSync(f, `apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.0.0/33}
`);
      const r = pfsim(['compile', '--cluster', f]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`${f}: document 2`);
      expect(r.stderr).toContain('spec.ingress[0].from[0].ipBlock.cidr');
      expect(r.stderr).not.toMatch(/\bat .*\.js/);
    });

    it('missing cluster path', () => {
      const r = pfsim(['compile', '--cluster', join(dir, 'nope')]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/^pfsim: .*nope: cannot read: ENOENT$/);
    });

    it('bad flow line names the file, line and field', () => {
      const flows = join(dir, 'bad.jsonl');
      writeFileSync(flows, '{"src":"10.0.0.1","dst":"10.0.0.2","proto":"TCP","dport":80}\n{"src":"10.0.0.1","dst":"10.0.0.300","proto":"TCP","dport":80}\n');
      const r = pfsim(['verdict', '--cluster', join(dir, 'demo'), '--flows', flows]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`pfsim: ${flows}: line 2: field dst: "10.0.0.300" is not an IP address`);
    });

    it('unknown engine is a usage error', () => {
      const r = pfsim(['verdict', '--cluster', join(dir, 'demo'), '--flows', join(dir, 'demo', 'flows.jsonl'), '--engines', 'chain,foo']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(/^pfsim: --engines: unknown engine "foo"/);
    });

    it('--debug adds the stack trace', () => {
      const r = pfsim(['--debug', 'compile', '--cluster', join(dir, 'nope')]);
      expect(r.code).toBe(1);
      expect(r.stderr.split('\n').length).toBeGreaterThan(2);
    });
  });
});
