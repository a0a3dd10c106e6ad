/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decode.h - one captured frame into a struct pf_pkt: link layer, IPv4/IPv6 (options,
 * extension headers, fragments), transport ports and TCP flags.
 *
 * Link layers: Ethernet II (up to PFC_MAX_VLAN 802.1Q/802.1ad/0x9100 tags), Linux SLL and
 * SLL2 (their protocol field read as an ethertype, tags included), raw IP (101, 12, 14; 228
 * and 229 insist on their version), BSD NULL (family in either byte order) and LOOP.
 * IPv6 walks hop-by-hop, routing, destination options, fragment and AH headers, at most
 * PFC_MAX_EXT; ESP, no-next-header and anything else end the walk as the protocol.
 *
 * Ports: TCP, UDP and SCTP; 0 for ICMP/ICMPv6 (as in a flows file: the echo identifier is not
 * used) and every other protocol. flags: the TCP header's FIN, SYN, RST and ACK bits.
 *
 * Fragments: a first fragment (offset 0, more fragments) is remembered in a bounded table keyed
 * by {src, dst, identification, protocol} (IPv4: 16-bit id and protocol field; IPv6: 32-bit id
 * and the fragment header's next header); a later fragment gets the protocol and ports of its
 * first and flags 0 (it carries no TCP header), or fragment-no-first when the first was not
 * seen before it or was pushed out of the table (4-way sets, the oldest way replaced).
 */
#ifndef PFSIM_CAPTURE_DECODE_H
#define PFSIM_CAPTURE_DECODE_H

#include "capture.h"

struct pfc_frag_ent {
	__u8 saddr[PF_ADDR_LEN];
	__u8 daddr[PF_ADDR_LEN];
	__u32 id;	/* IPv4 identification (16 bits) or IPv6 fragment id (32 bits) */
	__u8 kproto;	/* IPv4 protocol, or the IPv6 fragment header's next header */
	__u8 family;	/* 4 or 6; 0 for an empty slot */
	__u8 proto;	/* transport protocol of the first fragment */
	__u8 pad;
	__u16 sport;
	__u16 dport;
	__u32 pad2;
};

struct pfc_fragtab {
	struct pfc_frag_ent e[PFC_FRAG_SETS * PFC_FRAG_WAYS];
	__u8 victim[PFC_FRAG_SETS];	/* next way to replace in each set */
	__u64 remembered;
	__u64 evicted;
};

/*
 * pfc_decode - decodes the n captured bytes of d, a frame of link type lt, into *o.
 * Returns PFC_OK, or a PFC_SKIP_* status with *o all zero.
 */
__u32 pfc_decode(struct pfc_fragtab *ft, __u32 lt, const __u8 *d, __u32 n, struct pf_pkt *o);

/*
 * pfc_decode_view - pfc_decode(), and when the packet decodes (PFC_OK) also what a parser with
 * a fixed L4 offset reads from it into *v (see struct pfc_fixed_view in capture.h); *v is all
 * zero otherwise. v may be NULL.
 */
__u32 pfc_decode_view(struct pfc_fragtab *ft, __u32 lt, const __u8 *d, __u32 n, struct pf_pkt *o,
		      struct pfc_fixed_view *v);

#endif /* PFSIM_CAPTURE_DECODE_H */
