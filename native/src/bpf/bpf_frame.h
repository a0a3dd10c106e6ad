/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpf_frame.h - the smallest valid Ethernet frame carrying one struct pf_pkt, for running the
 * tc program on header records: IPv4 or IPv6, then TCP, UDP, SCTP or ICMP with the record's
 * ports (network order) and TCP flags. The program parses it back into the same record.
 */
#ifndef PFSIM_BPF_FRAME_H
#define PFSIM_BPF_FRAME_H

#include "pfsim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ethernet 14 + IPv6 40 + TCP 20 */
#define PFB_FRAME_MAX 74

/*
 * pfb_frame - writes the frame of *pkt into buf (PFB_FRAME_MAX bytes), its length to *len.
 * Returns 0, or -EINVAL with *why set when no frame parses back into *pkt: a family other
 * than 4 or 6, IPv4 addresses that are not ::ffff:a.b.c.d, an IPv6 next header that is an
 * extension header. Ports of protocols without ports are not carried (the parser sees 0).
 */
int pfb_frame(const struct pf_pkt *pkt, __u8 *buf, __u32 *len, const char **why);

#ifdef __cplusplus
}
#endif

#endif /* PFSIM_BPF_FRAME_H */
