/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture.h - a streaming capture file parser: pcap (microsecond and nanosecond magic, either
 * byte order) and pcapng (any number of sections and interfaces, each interface with its own
 * link type and timestamp resolution), fed with chunks of file bytes, writing one struct pf_pkt
 * and one struct pfc_meta per packet record.
 *
 * Nothing is dropped: a packet that cannot be judged still gets its slot, with a PFC_SKIP_*
 * status and an all-zero pf_pkt. File errors (bad magic, broken block framing, lengths over the
 * limits) stop the parser for good and name the byte offset.
 *
 * The caller owns every buffer. One parser per file; no global state, so parsers may live in
 * any number of threads.
 */
#ifndef PFSIM_CAPTURE_H
#define PFSIM_CAPTURE_H

#include <stddef.h>
#include "pfsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* status of one packet record: PFC_OK, or why it was skipped */
#define PFC_OK 0
#define PFC_SKIP_NOT_IP 1		/* link layer carries no IP (ARP, LLDP, 802.3 LLC ...) */
#define PFC_SKIP_TRUNCATED 2		/* captured bytes end inside a header we need */
#define PFC_SKIP_UNKNOWN_LINK 3		/* link type this parser does not decode */
#define PFC_SKIP_FRAG_NO_FIRST 4	/* non-first fragment whose first fragment was not seen */
#define PFC_SKIP_BAD_IP 5		/* version mismatch, IHL < 5, lengths shorter than headers */
#define PFC_SKIP_BAD_L4 6		/* transport header does not fit its datagram */
#define PFC_SKIP_HEADER_LIMIT 7		/* more VLAN tags or IPv6 extension headers than walked */
#define PFC_SKIP_TRUNCATED_RECORD 8	/* the file ends inside this record's data */
#define PFC_STATUS_COUNT 9

/* link types (tcpdump.org LINKTYPE_*) */
#define PFC_LT_NULL 0
#define PFC_LT_ETHERNET 1
#define PFC_LT_RAW_12 12		/* DLT_RAW on some BSDs */
#define PFC_LT_RAW_14 14		/* DLT_RAW on OpenBSD */
#define PFC_LT_RAW 101
#define PFC_LT_LOOP 108
#define PFC_LT_LINUX_SLL 113
#define PFC_LT_IPV4 228
#define PFC_LT_IPV6 229
#define PFC_LT_LINUX_SLL2 276

/* limits */
#define PFC_MAX_CAPLEN 262144u		/* a record's captured bytes (libpcap's maximum snaplen) */
#define PFC_MAX_RECORD (PFC_MAX_CAPLEN + 65536u) /* a record or block the caller must hold whole */
#define PFC_MAX_VLAN 8			/* VLAN tags walked */
#define PFC_MAX_EXT 8			/* IPv6 extension headers walked */
#define PFC_MAX_IFACES 65536u		/* interfaces per pcapng section */
#define PFC_FRAG_SETS 1024u		/* first fragments remembered: sets x ways */
#define PFC_FRAG_WAYS 4u

/* file formats */
#define PFC_FMT_NONE 0
#define PFC_FMT_PCAP 1
#define PFC_FMT_PCAPNG 2

/*
 * What a parser with a fixed L4 offset reads from a packet: the VPC CNI network-policy agent's
 * tc programs (aws-network-policy-agent, pkg/ebpf/c/tc.v4ingress.bpf.c and its egress and v6
 * variants) switch on the IP header's protocol byte (IPv6: the fixed header's next header, so an
 * extension header is taken for the protocol) and read the ports right after the fixed header
 * (IPv4 + 20, IPv6 + 40) whatever IHL says and whether or not the packet is a later fragment.
 * pfsim's own decode (the pf_pkt) follows the headers; the src/engines/aws.ts engine judges with
 * this view. ports: sport << 16 | dport, host order, 0 when the protocol has none or they do not
 * fit; info: the protocol byte read and PFC_VIEW_* flags.
 */
struct pfc_fixed_view {
	__u32 ports;
	__u32 info;
};

#define PFC_VIEW_PROTO_MASK 0xffu
#define PFC_VIEW_VALID 0x100u	   /* the view was taken (the packet decoded) */
#define PFC_VIEW_IPV4_OPTIONS 0x200u /* IPv4 IHL > 5: the fixed offset lands in the options */
#define PFC_VIEW_LATER_FRAGMENT 0x400u /* IPv4 fragment offset > 0: it lands in the payload */
#define PFC_VIEW_IPV6_EXT 0x800u   /* IPv6: an extension header follows the fixed header */
#define PFC_VIEW_SHORT 0x1000u	   /* the L4 header at the fixed offset runs past the datagram */

/*
 * Host-only metadata of one packet record: thirteen u32 words, 52 bytes, so JavaScript reads it
 * through a Uint32Array. 64-bit values are split in low and high words.
 */
struct pfc_meta {
	__u32 off_lo;	/* file offset of the record: pcap record header, pcapng block */
	__u32 off_hi;
	__u32 sec_lo;	/* timestamp: seconds since the epoch (0 for a simple packet block) */
	__u32 sec_hi;
	__u32 nsec;	/* and nanoseconds, 0..999999999 */
	__u32 caplen;	/* bytes captured (as the record says, even when truncated-record) */
	__u32 origlen;	/* bytes on the wire */
	__u32 ifindex;	/* pcapng: interface number in the file, all sections counted; pcap: 0 */
	__u32 linktype;	/* LINKTYPE_* of the record's interface (low 16 bits of the pcap field) */
	__u32 status;	/* PFC_OK or PFC_SKIP_* */
	__u32 fixed_ports; /* struct pfc_fixed_view of the packet, all zero when skipped */
	__u32 fixed_info;
	__u32 flow_hash; /* pfc_flow_hash() of the record, 0 when skipped */
};

#define PFC_META_WORDS 13

/*
 * pfc_share_out - sorts the positions of the first `count` records of `meta` that parsed
 * (status PFC_OK) by slot, flow_hash % slots, in record order within each slot (a counting
 * sort): slot s's positions are order[starts[s] .. starts[s+1]), and owner[i] is record i's
 * slot. Skipped records are in no slot's run (their owner is left as it was). The caller
 * gives order and owner room for count entries, starts for slots + 1, and 1 <= slots <= 255.
 * Returns the records skipped.
 */
__u32 pfc_share_out(const struct pfc_meta *meta, __u32 count, __u32 slots, __u32 *order,
		    __u32 *starts, __u8 *owner);

/*
 * pfc_flow_hash - a hash of the packet's connection that is the same in both directions:
 * each end {address, port} is mixed on its own and the two are added (swapping the ends
 * gives the same sum), then the protocol is folded in and the sum avalanched so that its low
 * bits depend on every input bit. The family and TCP flags are left out: they differ between
 * packets of one connection or say nothing the addresses do not. Later IP fragments carry
 * their first fragment's ports, so they hash with it. The replay pool picks a packet's worker
 * by it (hash % workers), so every packet of a connection meets the same conntrack.
 */
__u32 pfc_flow_hash(const struct pf_pkt *pkt);

/* what one pfc_parse call did */
struct pfc_result {
	__u32 consumed;	/* bytes of buf fully handled; the rest must be handed in again */
	__u32 count;	/* slots written */
	__u32 need;	/* when stopped for lack of bytes: bytes from buf + consumed it waits for */
};

struct pfc_stats {
	__u64 packets;			/* packet records, = slots written */
	__u64 status[PFC_STATUS_COUNT];	/* slots per status */
	__u64 bytes;			/* file bytes consumed */
	__u64 frag_remembered;		/* first fragments put in the table */
	__u64 frag_evicted;		/* remembered first fragments pushed out by newer ones */
	__u32 format;			/* PFC_FMT_* */
	__u32 sections;			/* pcapng section header blocks */
	__u32 interfaces;		/* pcapng interface description blocks */
	__u32 pad;
};

struct pfc_parser;

/* returns 0 or -ENOMEM */
int pfc_parser_new(struct pfc_parser **out);
void pfc_parser_free(struct pfc_parser *p);

/*
 * pfc_parse - parses the whole records at the start of buf[0..len), the file's bytes from
 * pfc_position() on, writing at most max slots to pkts and meta. A record cut by the end of
 * buf is left for the next call (res->need says how many bytes it waits for, never more than
 * PFC_MAX_RECORD); with final set, buf holds the rest of the file and nothing is left: a
 * packet record whose data the file cuts short becomes a PFC_SKIP_TRUNCATED_RECORD slot, any
 * other cut is a file error. pkts must be 2-byte aligned.
 * Returns 0; -EINVAL for a file error (pfc_error() names the offset, sticky); -ENOMEM.
 */
int pfc_parse(struct pfc_parser *p, const __u8 *buf, __u32 len, int final, struct pf_pkt *pkts,
	      struct pfc_meta *meta, __u32 max, struct pfc_result *res);

/* file offset of the byte the next pfc_parse call starts at */
__u64 pfc_position(const struct pfc_parser *p);
/* the file error: its byte offset and a one-line description; NULL when none */
const char *pfc_error(const struct pfc_parser *p, __u64 *offset);
void pfc_stats(const struct pfc_parser *p, struct pfc_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PFSIM_CAPTURE_H */
