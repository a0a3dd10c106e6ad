/**
 * Names for the demo capture's connections, to compare a diff's changed flows with what the
 * demo's policies say by hand: "client-one TCP v4" for a connection from a demo client to
 * demo-app, and every connection each client opens (curl and ping, both families).
 */
import { DEMO_APP, DEMO_CLIENTS } from '../../src/demo/cluster.js';

/** "client-one TCP v4" for a connection between a demo client and demo-app; undefined for any other */
export function clientConnection(flow: string): string | undefined {
  const [proto, src, , dst] = flow.split(' ');
  const host = (end: string) => end.replace(/^\[?(.*?)\]?:\d+$/, '$1');
  const client = DEMO_CLIENTS.find((c) => host(src!) === c.v4 || host(src!) === c.v6);
  const toApp = host(dst!) === DEMO_APP.v4 || host(dst!) === DEMO_APP.v6;
  return client && toApp ? `${client.name} ${proto} ${host(src!) === client.v4 ? 'v4' : 'v6'}` : undefined;
}

/** every connection each of `clients` opens to demo-app in the demo capture, sorted */
export const everyConnection = (clients: readonly string[]): string[] =>
  clients.flatMap((c) => [`${c} ICMP v4`, `${c} ICMPv6 v6`, `${c} TCP v4`, `${c} TCP v6`]).sort();
