// SPDX-License-Identifier: Apache-2.0
/*
 * bpf_frame.c - a header record back into wire bytes: the frame the tc program under
 * BPF_PROG_TEST_RUN parses into the same struct pf_pkt.
 */
#include <errno.h>
#include <string.h>

#include "bpf_frame.h"

#define ETH_HLEN 14
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_SCTP 132
#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58

static const __u8 v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void put16(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 8);
	p[1] = (__u8)v;
}

/* the IPv4 header checksum: one's complement of the one's complement sum of its words */
static __u32 ip_csum(const __u8 *h, __u32 n)
{
	__u32 sum = 0, i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (__u32)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* the transport header length the parser needs for proto; 0 for protocols it does not read */
static __u32 l4_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_SCTP:
		return 12;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 8;
	default:
		return 0;
	}
}

static void put_l4(const struct pf_pkt *pkt, __u8 *p)
{
	switch (pkt->proto) {
	case IPPROTO_TCP:
		put16(p, pkt->sport);
		put16(p + 2, pkt->dport);
		p[12] = 0x50;			/* data offset: 5 words, no options */
		p[13] = pkt->flags;
		put16(p + 14, 65535);		/* window */
		break;
	case IPPROTO_UDP:
		put16(p, pkt->sport);
		put16(p + 2, pkt->dport);
		put16(p + 4, 8);		/* length; checksum 0: none */
		break;
	case IPPROTO_SCTP:
		put16(p, pkt->sport);
		put16(p + 2, pkt->dport);
		break;
	case IPPROTO_ICMP:
		p[0] = 8;			/* echo request */
		break;
	case IPPROTO_ICMPV6:
		p[0] = 128;			/* echo request */
		break;
	default:
		break;
	}
}

int pfb_frame(const struct pf_pkt *pkt, __u8 *buf, __u32 *len, const char **why)
{
	__u32 l4 = l4_len(pkt->proto), n;
	__u8 *ip;
	int ret = 0;

	*why = NULL;
	memset(buf, 0, PFB_FRAME_MAX);
	/* locally administered unicast MACs */
	buf[0] = 0x02;
	buf[5] = 0x02;
	buf[6] = 0x02;
	buf[11] = 0x01;
	ip = buf + ETH_HLEN;
	if (pkt->family == 4) {
		if (memcmp(pkt->saddr, v4_mapped, 12) || memcmp(pkt->daddr, v4_mapped, 12)) {
			*why = "family 4 with an address that is not ::ffff:a.b.c.d";
			ret = -EINVAL;
			goto out;
		}
		put16(buf + 12, 0x0800);
		n = 20 + l4;
		ip[0] = 0x45;
		put16(ip + 2, n);
		put16(ip + 6, 0x4000);		/* don't fragment */
		ip[8] = 64;
		ip[9] = pkt->proto;
		memcpy(ip + 12, pkt->saddr + 12, 4);
		memcpy(ip + 16, pkt->daddr + 12, 4);
		put16(ip + 10, ip_csum(ip, 20));
		put_l4(pkt, ip + 20);
	} else if (pkt->family == 6) {
		switch (pkt->proto) {
		case 0:
		case 43:
		case 44:
		case 51:
		case 60:
			*why = "an IPv6 next header that is an extension header";
			ret = -EINVAL;
			goto out;
		default:
			break;
		}
		put16(buf + 12, 0x86dd);
		n = 40 + l4;
		ip[0] = 0x60;
		put16(ip + 4, l4);
		ip[6] = pkt->proto;
		ip[7] = 64;
		memcpy(ip + 8, pkt->saddr, PF_ADDR_LEN);
		memcpy(ip + 24, pkt->daddr, PF_ADDR_LEN);
		put_l4(pkt, ip + 40);
	} else {
		*why = "family is neither 4 nor 6";
		ret = -EINVAL;
		goto out;
	}
	*len = ETH_HLEN + n;
out:
	return ret;
}
