// SPDX-License-Identifier: Apache-2.0
/*
 * decode.c - a captured frame into a struct pf_pkt (see decode.h).
 *
 * Every read is checked against two ends: the captured bytes (n) and the end the IP header
 * claims for its datagram. A header past the datagram's end is malformed (bad-ip-header,
 * bad-l4-header); one past the captured bytes but inside the datagram was cut by the snaplen
 * (truncated). Trailing bytes after the datagram (Ethernet padding, FCS) are never read.
 */
#include <string.h>

#include "decode.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100	/* pre-802.1ad service tag */

#define PFC_IPPROTO_HOPOPTS 0
#define PFC_IPPROTO_ICMP 1
#define PFC_IPPROTO_TCP 6
#define PFC_IPPROTO_UDP 17
#define PFC_IPPROTO_ROUTING 43
#define PFC_IPPROTO_FRAGMENT 44
#define PFC_IPPROTO_AH 51
#define PFC_IPPROTO_ICMPV6 58
#define PFC_IPPROTO_DSTOPTS 60
#define PFC_IPPROTO_SCTP 132

static inline __u32 be16(const __u8 *p)
{
	return (__u32)p[0] << 8 | p[1];
}

static inline __u32 be32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

/* the fragment table set of a key; only the addresses' last words are hashed */
static inline __u32 frag_set(const __u8 *s, const __u8 *d, __u32 id, __u8 kproto)
{
	__u32 a, b, h;

	memcpy(&a, s + 12, 4);
	memcpy(&b, d + 12, 4);
	h = a * 0x9e3779b1u ^ b * 0x85ebca77u ^ id * 0xc2b2ae3du ^ kproto;
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h & (PFC_FRAG_SETS - 1);
}

static inline int frag_match(const struct pfc_frag_ent *e, const struct pf_pkt *o, __u32 id,
			     __u8 kproto)
{
	return e->family == o->family && e->id == id && e->kproto == kproto &&
	       !memcmp(e->saddr, o->saddr, PF_ADDR_LEN) && !memcmp(e->daddr, o->daddr, PF_ADDR_LEN);
}

/* a non-first fragment takes the protocol and ports of its first fragment */
static __u32 frag_lookup(struct pfc_fragtab *ft, struct pf_pkt *o, __u32 id, __u8 kproto)
{
	const struct pfc_frag_ent *e;
	__u32 i, st = PFC_SKIP_FRAG_NO_FIRST;

	e = &ft->e[frag_set(o->saddr, o->daddr, id, kproto) * PFC_FRAG_WAYS];
	for (i = 0; i < PFC_FRAG_WAYS; i++, e++) {
		if (frag_match(e, o, id, kproto)) {
			o->proto = e->proto;
			o->sport = e->sport;
			o->dport = e->dport;
			st = PFC_OK;
			break;
		}
	}
	return st;
}

/* remembers a first fragment: its own slot, else an empty way, else the set's oldest */
static void frag_remember(struct pfc_fragtab *ft, const struct pf_pkt *o, __u32 id, __u8 kproto)
{
	__u32 set = frag_set(o->saddr, o->daddr, id, kproto), i;
	struct pfc_frag_ent *base = &ft->e[set * PFC_FRAG_WAYS], *e = NULL;

	for (i = 0; i < PFC_FRAG_WAYS && !e; i++)
		if (frag_match(&base[i], o, id, kproto))
			e = &base[i];
	for (i = 0; i < PFC_FRAG_WAYS && !e; i++)
		if (!base[i].family)
			e = &base[i];
	if (!e) {
		e = &base[ft->victim[set]];
		ft->victim[set] = (__u8)((ft->victim[set] + 1) % PFC_FRAG_WAYS);
		ft->evicted++;
	}
	memcpy(e->saddr, o->saddr, PF_ADDR_LEN);
	memcpy(e->daddr, o->daddr, PF_ADDR_LEN);
	e->id = id;
	e->kproto = kproto;
	e->family = o->family;
	e->proto = o->proto;
	e->sport = o->sport;
	e->dport = o->dport;
	ft->remembered++;
}

/*
 * the transport header at d[off..): ports for TCP, UDP and SCTP, flags for TCP. The whole
 * fixed header must be there, as a filter matching on it would read it; ICMP needs its 4
 * bytes of type, code and checksum and gets ports 0; other protocols get ports 0 unread.
 */
static __u32 transport(const __u8 *d, __u32 off, __u32 dend, __u32 n, struct pf_pkt *o)
{
	__u32 need, st = PFC_OK;

	switch (o->proto) {
	case PFC_IPPROTO_TCP:
		need = 20;
		break;
	case PFC_IPPROTO_UDP:
		need = 8;
		break;
	case PFC_IPPROTO_SCTP:
		need = 12;
		break;
	case PFC_IPPROTO_ICMP:
	case PFC_IPPROTO_ICMPV6:
		need = 4;
		break;
	default:
		goto out;
	}
	if (off + need > dend) {
		st = PFC_SKIP_BAD_L4;
		goto out;
	}
	if (off + need > n) {
		st = PFC_SKIP_TRUNCATED;
		goto out;
	}
	if (o->proto == PFC_IPPROTO_ICMP || o->proto == PFC_IPPROTO_ICMPV6)
		goto out;
	if (o->proto == PFC_IPPROTO_TCP) {
		/* a data offset under 5 words overlaps the fixed header */
		if (d[off + 12] < 0x50) {
			st = PFC_SKIP_BAD_L4;
			goto out;
		}
		o->flags = d[off + 13] & PF_PKT_F_TCP;
	}
	o->sport = (__u16)be16(d + off);
	o->dport = (__u16)be16(d + off + 2);
out:
	return st;
}

static __u32 ipv4(struct pfc_fragtab *ft, const __u8 *d, __u32 off, __u32 n, struct pf_pkt *o)
{
	const __u8 *h = d + off;
	__u32 hl, tot, frag, id, st;

	if (n - off < 20) {
		st = PFC_SKIP_TRUNCATED;
		goto out;
	}
	hl = (h[0] & 0x0f) * 4u;
	tot = be16(h + 2);
	/* total length 0: a segmentation-offload packet captured before it was split */
	if (tot == 0)
		tot = n - off > hl ? n - off : hl;
	if (hl < 20 || tot < hl) {
		st = PFC_SKIP_BAD_IP;
		goto out;
	}
	if (n - off < hl) {
		st = PFC_SKIP_TRUNCATED;
		goto out;
	}
	o->family = 4;
	o->proto = h[9];
	o->saddr[10] = o->saddr[11] = 0xff;
	o->daddr[10] = o->daddr[11] = 0xff;
	memcpy(o->saddr + 12, h + 12, 4);
	memcpy(o->daddr + 12, h + 16, 4);
	frag = be16(h + 6);
	id = be16(h + 4);
	if (frag & 0x1fff) {
		st = frag_lookup(ft, o, id, h[9]);
		goto out;
	}
	st = transport(d, off + hl, off + tot, n, o);
	if (st == PFC_OK && (frag & 0x2000))
		frag_remember(ft, o, id, h[9]);
out:
	return st;
}

static __u32 ipv6(struct pfc_fragtab *ft, const __u8 *d, __u32 off, __u32 n, struct pf_pkt *o)
{
	const __u8 *h = d + off;
	__u32 plen, dend, pos, len, i, frag, id = 0, st = PFC_OK;
	__u8 nh, kproto = 0;
	int first = 0;

	if (n - off < 40) {
		st = PFC_SKIP_TRUNCATED;
		goto out;
	}
	plen = be16(h + 4);
	/* payload length 0: a jumbogram, or an offload packet; the capture bounds it */
	dend = plen ? off + 40 + plen : n;
	o->family = 6;
	memcpy(o->saddr, h + 8, PF_ADDR_LEN);
	memcpy(o->daddr, h + 24, PF_ADDR_LEN);
	nh = h[6];
	pos = off + 40;
	for (i = 0;; i++) {
		if (nh != PFC_IPPROTO_HOPOPTS && nh != PFC_IPPROTO_ROUTING &&
		    nh != PFC_IPPROTO_DSTOPTS && nh != PFC_IPPROTO_AH && nh != PFC_IPPROTO_FRAGMENT)
			break;
		if (i == PFC_MAX_EXT) {
			st = PFC_SKIP_HEADER_LIMIT;
			goto out;
		}
		/* every extension header starts with next header and (but fragment) length */
		len = nh == PFC_IPPROTO_FRAGMENT ? 8 : 2;
		if (pos + len > dend) {
			st = PFC_SKIP_BAD_IP;
			goto out;
		}
		if (pos + len > n) {
			st = PFC_SKIP_TRUNCATED;
			goto out;
		}
		if (nh == PFC_IPPROTO_FRAGMENT) {
			frag = be16(d + pos + 2);
			id = be32(d + pos + 4);
			if (frag & 0xfff8) {
				st = frag_lookup(ft, o, id, d[pos]);
				goto out;
			}
			/* offset 0 and M set: a first fragment; M clear: an atomic one */
			if (frag & 1) {
				first = 1;
				kproto = d[pos];
			}
		} else if (nh == PFC_IPPROTO_AH) {
			len = (d[pos + 1] + 2u) * 4;
		} else {
			len = (d[pos + 1] + 1u) * 8;
		}
		if (pos + len > dend) {
			st = PFC_SKIP_BAD_IP;
			goto out;
		}
		nh = d[pos];
		pos += len;
	}
	o->proto = nh;
	st = transport(d, pos, dend, n, o);
	if (st == PFC_OK && first)
		frag_remember(ft, o, id, kproto);
out:
	return st;
}

/* the BSD loopback header's address family: AF_INET is 2 everywhere, AF_INET6 varies */
static __u32 loopback_version(__u32 family)
{
	__u32 v = 0;

	if (family == 2)
		v = 4;
	else if (family == 10 || family == 24 || family == 28 || family == 30)
		v = 6;
	return v;
}

/*
 * what the VPC CNI agent's tc programs read from the IP packet at d[off..) (see struct
 * pfc_fixed_view): the protocol byte of the fixed header and the ports right after it. The
 * programs let a packet whose L4 header would run past the data end through unjudged; the end
 * here is the datagram's (a pod's veth carries no link padding), bounded by the captured bytes,
 * and a header cut off by the snaplen inside the datagram leaves the view not VALID.
 */
static void fixed_view(const __u8 *d, __u32 off, __u32 n, __u32 ver, struct pfc_fixed_view *v)
{
	const __u8 *h = d + off;
	__u32 fixed = ver == 4 ? 20 : 40, len, end, need = 0, info;
	__u8 proto;

	if (ver == 4) {
		len = be16(h + 2);
		proto = h[9];
		info = proto | PFC_VIEW_VALID;
		if ((h[0] & 0x0f) > 5)
			info |= PFC_VIEW_IPV4_OPTIONS;
		if (be16(h + 6) & 0x1fff)
			info |= PFC_VIEW_LATER_FRAGMENT;
	} else {
		len = be16(h + 4);
		len = len ? len + 40 : 0;
		proto = h[6];
		info = proto | PFC_VIEW_VALID;
		if (proto == PFC_IPPROTO_HOPOPTS || proto == PFC_IPPROTO_ROUTING ||
		    proto == PFC_IPPROTO_FRAGMENT || proto == PFC_IPPROTO_AH ||
		    proto == PFC_IPPROTO_DSTOPTS)
			info |= PFC_VIEW_IPV6_EXT;
	}
	end = len ? off + len : n;
	if (proto == PFC_IPPROTO_TCP)
		need = 20;
	else if (proto == PFC_IPPROTO_UDP)
		need = 8;
	else if (proto == PFC_IPPROTO_SCTP)
		need = 12;
	v->ports = 0;
	if (need && off + fixed + need > end) {
		info |= PFC_VIEW_SHORT;
	} else if (need && off + fixed + need > n) {
		info = 0;
	} else if (need) {
		v->ports = be16(h + fixed) << 16 | be16(h + fixed + 2);
	}
	v->info = info;
}

__u32 pfc_decode(struct pfc_fragtab *ft, __u32 lt, const __u8 *d, __u32 n, struct pf_pkt *o)
{
	return pfc_decode_view(ft, lt, d, n, o, NULL);
}

__u32 pfc_decode_view(struct pfc_fragtab *ft, __u32 lt, const __u8 *d, __u32 n, struct pf_pkt *o,
		      struct pfc_fixed_view *v)
{
	__u32 st = PFC_OK, off = 0, et = 0, ver = 0, fam, tags;

	memset(o, 0, sizeof(*o));
	if (v)
		memset(v, 0, sizeof(*v));
	switch (lt) {
	case PFC_LT_ETHERNET:
		off = 14;
		break;
	case PFC_LT_LINUX_SLL:
		off = 16;
		break;
	case PFC_LT_LINUX_SLL2:
		off = 20;
		break;
	case PFC_LT_NULL:
	case PFC_LT_LOOP:
		off = 4;
		break;
	case PFC_LT_RAW:
	case PFC_LT_RAW_12:
	case PFC_LT_RAW_14:
		goto ip;
	case PFC_LT_IPV4:
		ver = 4;
		goto ip;
	case PFC_LT_IPV6:
		ver = 6;
		goto ip;
	default:
		st = PFC_SKIP_UNKNOWN_LINK;
		goto out;
	}
	if (n < off) {
		st = PFC_SKIP_TRUNCATED;
		goto out;
	}
	switch (lt) {
	case PFC_LT_ETHERNET:
		et = be16(d + 12);
		break;
	case PFC_LT_LINUX_SLL:
		et = be16(d + 14);
		break;
	case PFC_LT_LINUX_SLL2:
		et = be16(d);
		break;
	case PFC_LT_LOOP:
		ver = loopback_version(be32(d));
		goto family;
	default:
		/* NULL: the family in the capturing host's byte order, which may not be ours */
		fam = (__u32)d[0] | (__u32)d[1] << 8 | (__u32)d[2] << 16 | (__u32)d[3] << 24;
		if (fam > 0xffff)
			fam = be32(d);
		ver = loopback_version(fam);
		goto family;
	}
	/* Ethernet, SLL, SLL2: a protocol type, VLAN tags first (802.1Q, 802.1ad, old QinQ) */
	for (tags = 0; et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ_OLD; tags++) {
		if (tags == PFC_MAX_VLAN) {
			st = PFC_SKIP_HEADER_LIMIT;
			goto out;
		}
		if (n - off < 4) {
			st = PFC_SKIP_TRUNCATED;
			goto out;
		}
		et = be16(d + off + 2);
		off += 4;
	}
	if (et == ETH_P_IP)
		ver = 4;
	else if (et == ETH_P_IPV6)
		ver = 6;
family:
	if (!ver) {
		st = PFC_SKIP_NOT_IP;
		goto out;
	}
ip:
	if (n <= off) {
		st = PFC_SKIP_TRUNCATED;
		goto out;
	}
	/* raw links take the version from the header; the others must agree with it */
	if (!ver)
		ver = d[off] >> 4;
	if (ver != (__u32)(d[off] >> 4) || (ver != 4 && ver != 6)) {
		st = PFC_SKIP_BAD_IP;
		goto out;
	}
	st = ver == 4 ? ipv4(ft, d, off, n, o) : ipv6(ft, d, off, n, o);
	if (v && st == PFC_OK)
		fixed_view(d, off, n, ver, v);
out:
	if (st != PFC_OK)
		memset(o, 0, sizeof(*o));
	return st;
}
