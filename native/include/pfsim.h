/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pfsim.h - every struct shared by the tc program (kernel issue) and the native addon:
 * map keys and values, the packet header record, verdict and reason codes.
 *
 * Fixed-width kernel types only, no pointers, no bool. Addresses are 16 bytes in network
 * order; IPv4 is stored as IPv4-mapped IPv6 (::ffff:a.b.c.d), so an IPv4 /n prefix is /(96+n).
 * The TypeScript side mirrors these layouts in src/compile/layout.ts; keep both in step.
 */
#ifndef PFSIM_H
#define PFSIM_H

#include <linux/types.h>

#define PF_ADDR_LEN 16

/* protocol value of a port entry that matches every IP protocol (IP protocol 255 is reserved) */
#define PF_PROTO_ANY 255
/* a port entry covering every port of its protocol: start 0, end 65535 */
#define PF_PORT_MIN 0
#define PF_PORT_MAX 65535

/* port entries held inline in an LPM value, as the VPC CNI agent's 24 slots */
#define PF_VALUE_SLOTS 24
/* entries a value may hold in all (inline + extension pool); the compiler refuses more */
#define PF_VALUE_MAX_ENTRIES 4096

/* direction of a trie: policy on traffic into the pod, or out of it */
#define PF_DIR_INGRESS 0
#define PF_DIR_EGRESS 1

/* per-direction pod state */
#define PF_STATE_ALLOW_ALL 0 /* no policy isolates the pod in this direction */
#define PF_STATE_ENFORCE 1   /* isolated: only what the trie allows */

/* verdicts */
#define PF_VERDICT_ALLOW 1
#define PF_VERDICT_DENY 2

/* what decided the verdict */
#define PF_REASON_ESTABLISHED 1    /* packet of a tracked (allowed) connection */
#define PF_REASON_NOT_ISOLATED 2   /* neither end is an isolated pod in that direction */
#define PF_REASON_POLICY 3         /* allowed by trie entries (egress and/or ingress) */
#define PF_REASON_DENY_EGRESS 4    /* source pod is egress-isolated and nothing allows it */
#define PF_REASON_DENY_INGRESS 5   /* destination pod is ingress-isolated and nothing allows it */
#define PF_REASON_CT_FULL 6        /* a new connection found conntrack full: dropped (host only) */

#define PF_NO_ENTRY 0xffffffffu

/* packet header record flags: the TCP header's own bits, so flags = tcp[13] & PF_PKT_F_TCP */
#define PF_PKT_F_NONE 0
#define PF_PKT_F_FIN 0x01
#define PF_PKT_F_SYN 0x02
#define PF_PKT_F_RST 0x04
#define PF_PKT_F_ACK 0x10
#define PF_PKT_F_TCP (PF_PKT_F_FIN | PF_PKT_F_SYN | PF_PKT_F_RST | PF_PKT_F_ACK)

/*
 * One packet as the classifier sees it: what the parser extracted. 40 bytes.
 * Ports are host order; for protocols without ports they are 0.
 */
struct pf_pkt {
	__u8 saddr[PF_ADDR_LEN];
	__u8 daddr[PF_ADDR_LEN];
	__u16 sport;
	__u16 dport;
	__u8 proto;  /* IP protocol number */
	__u8 family; /* 4 or 6 */
	__u8 flags;  /* PF_PKT_F_* */
	__u8 pad;
};

/* LPM trie key: prefixlen counts bits of addr (IPv4 /n = 96 + n). 20 bytes. */
struct pf_lpm_key {
	__u32 prefixlen;
	__u8 addr[PF_ADDR_LEN];
};

/* one allowed {protocol, port range}; proto PF_PROTO_ANY matches every protocol. 8 bytes. */
struct pf_port_entry {
	__u16 start; /* inclusive, host order */
	__u16 end;   /* inclusive, host order */
	__u8 proto;
	__u8 pad[3];
};

/*
 * LPM trie value: the union of every rule whose block covers the key's prefix and whose
 * except does not. Entries are sorted by (proto, start) and merged; count 0 means "nothing
 * allowed" (an except hole). Entries past PF_VALUE_SLOTS live in the extension pool at
 * ext .. ext + count - PF_VALUE_SLOTS. 200 bytes.
 */
struct pf_lpm_val {
	__u32 count;
	__u32 ext;
	struct pf_port_entry e[PF_VALUE_SLOTS];
};

/* pod state map: keyed by pod IP, one record per pod address */
struct pf_pod_key {
	__u8 addr[PF_ADDR_LEN];
};

struct pf_pod_state {
	__u32 pod_id;
	__u8 ingress; /* PF_STATE_* */
	__u8 egress;  /* PF_STATE_* */
	__u16 pad;
	/* trie ids: pod_id * 2 + PF_DIR_* */
};

/*
 * conntrack key: the connection's two ends in canonical order (the lower {addr, port}
 * first), so that both directions of a connection find one entry. 40 bytes.
 */
struct pf_ct_key {
	__u8 addr_a[PF_ADDR_LEN];
	__u8 addr_b[PF_ADDR_LEN];
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 pad[3];
};

struct pf_ct_val {
	__u64 last_seen; /* packet counter or ns timestamp, engine-defined */
	__u32 packets;
	__u32 flags;
};

/*
 * port entries per value the tc program (native/bpf/pfsim_tc.bpf.c) scans: the verifier
 * follows pf_ports_match() one entry at a time and refuses a scan of PF_VALUE_MAX_ENTRIES.
 * Its loader refuses plans with longer values rather than judge them differently.
 */
#define PF_TC_VALUE_MAX_ENTRIES 256

/* the tc program's one-entry config array, written by its loader (native/src/bpf/) */
struct pf_tc_config {
	__u32 stateful; /* nonzero: look up and track connections in the conntrack map */
	__u32 pad;
};

#endif /* PFSIM_H */
