// SPDX-License-Identifier: Apache-2.0
/*
 * pfsim_tc.bpf.c - the maps classifier as a tc program: parses the frame into a struct pf_pkt,
 * judges it with the shared decision of pfsim_classify.h over BTF-defined maps, writes the
 * four verdict words into skb->cb[0..3] and returns TC_ACT_OK (allow) or TC_ACT_SHOT (deny).
 *
 * Maps, filled by the loader (native/src/bpf/) from the same arrays as the host classifier:
 *   pod_state  hash          struct pf_pod_key -> struct pf_pod_state
 *   tries      array of maps trie id (pod_id * 2 + dir) -> LPM trie pf_lpm_key -> pf_lpm_val
 *   ports_ext  array         extension pool slot -> struct pf_port_entry
 *   conntrack  LRU hash      struct pf_ct_key -> struct pf_ct_val
 *   config     array         0 -> struct pf_tc_config
 *
 * A frame that cannot be judged (not IP, truncated, malformed, a non-first fragment, more
 * headers than walked) passes untouched with cb[0] = 0 and cb[1] = why, numbered as the
 * capture decoder's PFC_SKIP_* statuses; the kernel's own IP stack deals with it.
 *
 * Only helpers, map types and verifier features of Linux 5.10: bounded loops, a global
 * function (5.6), no bpf_loop, no kfuncs. The kernel's LPM lookup does not say which prefix
 * matched, so entry ids are PF_NO_ENTRY.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "pfsim.h"

/*
 * The verifier follows pf_ports_match()'s scan one entry at a time, each step leaving branch
 * states pending; a scan of PF_VALUE_MAX_ENTRIES (4096) entries passes its limit of 8192
 * pending states ("The sequence of 8193 jumps is too complex", on 5.10 as on 6.x). Here the
 * scan stops at PF_TC_VALUE_MAX_ENTRIES; the loader refuses a plan with a longer value, so
 * every plan it takes is judged exactly as the host classifier judges it.
 */
#undef PF_VALUE_MAX_ENTRIES
#define PF_VALUE_MAX_ENTRIES PF_TC_VALUE_MAX_ENTRIES

/* unjudged frames: cb[1], the capture decoder's numbering (capture.h PFC_SKIP_*) */
#define PF_TC_OK 0
#define PF_TC_SKIP_NOT_IP 1
#define PF_TC_SKIP_TRUNCATED 2
#define PF_TC_SKIP_FRAG 4
#define PF_TC_SKIP_BAD_IP 5
#define PF_TC_SKIP_BAD_L4 6
#define PF_TC_SKIP_HEADER_LIMIT 7

/* headers walked, as the capture decoder */
#define PF_TC_MAX_VLAN 8
#define PF_TC_MAX_EXT 8
/* header bytes made linear before parsing a non-linear skb: link and IP headers */
#define PF_TC_PULL 128

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100

#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60
#define IPPROTO_SCTP 132

/*
 * the inner trie template; key and value go by size, since clang emits the key and value
 * structs of a map reached only through the outer map's pointer as bare forward
 * declarations, which libbpf cannot size (the loader creates the real tries without BTF)
 */
struct pf_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);		/* the loader sizes it to the largest trie */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct pf_lpm_key));
	__uint(value_size, sizeof(struct pf_lpm_val));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);		/* the loader sets trieCount */
	__type(key, __u32);
	__array(values, struct pf_trie);
} tries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);		/* the loader sets the pod address count */
	__type(key, struct pf_pod_key);
	__type(value, struct pf_pod_state);
} pod_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);		/* the loader sets the extension pool size */
	__type(key, __u32);
	__type(value, struct pf_port_entry);
} ports_ext SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);	/* the loader may set another capacity */
	__type(key, struct pf_ct_key);
	__type(value, struct pf_ct_val);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pf_tc_config);
} config SEC(".maps");

/* what the hooks get as ctx: the packet being judged */
struct pf_tc_ctx {
	const struct pf_pkt *pkt;
};

/*
 * The two values the LPM hook hands pfsim_classify.h: pf_classify() uses a side's value
 * only as pf_ports_match(ctx, val, pkt->proto, pkt->dport), so for this packet the trie's
 * own value is as good as "everything" when its ports match and "nothing" when they do not.
 * The match itself runs on the trie's value in pf_tc_side(), a global function the verifier
 * checks once; inlined twice into pf_classify(), each scan's steps multiply with the other's
 * and the program outgrows the verifier's limits.
 */
static const struct pf_lpm_val pf_val_any = {
	.count = 1,
	.e = { { .start = PF_PORT_MIN, .end = PF_PORT_MAX, .proto = PF_PROTO_ANY } },
};
static const struct pf_lpm_val pf_val_none = { .count = 0 };

int pf_tc_side(__u64 addr_hi, __u64 addr_lo, __u32 trie, __u32 proto_port);

/* lookup hooks for pfsim_classify.h; every map is global */
static __always_inline const struct pf_pod_state *pod_hook(const __u8 *addr)
{
	return bpf_map_lookup_elem(&pod_state, addr);
}

static __always_inline const struct pf_lpm_val *lpm_hook(const struct pf_tc_ctx *x, __u32 trie,
							  const __u8 *addr, __u32 *idp)
{
	const struct pf_lpm_val *v = 0;
	__u64 hi, lo;
	int m;

	/* which prefix matched is not known here */
	*idp = PF_NO_ENTRY;
	__builtin_memcpy(&hi, addr, 8);
	__builtin_memcpy(&lo, addr + 8, 8);
	m = pf_tc_side(hi, lo, trie, (__u32)x->pkt->proto << 16 | x->pkt->dport);
	if (m >= 0)
		v = m ? &pf_val_any : &pf_val_none;
	return v;
}

static __always_inline const struct pf_port_entry *ext_hook(__u32 i)
{
	return bpf_map_lookup_elem(&ports_ext, &i);
}

static __always_inline int ct_lookup(const struct pf_ct_key *key)
{
	struct pf_ct_val *v = bpf_map_lookup_elem(&conntrack, key);

	if (!v)
		return 0;
	v->last_seen = bpf_ktime_get_ns();
	v->packets++;	/* a statistic: racing CPUs may lose counts */
	return 1;
}

static __always_inline void ct_insert(const struct pf_ct_key *key)
{
	struct pf_ct_val v = { .last_seen = bpf_ktime_get_ns(), .packets = 1, .flags = 0 };

	/* a full LRU evicts its least recently used entry; failure is silent, as the hook allows */
	bpf_map_update_elem(&conntrack, key, &v, BPF_ANY);
}

#define PF_CTX const struct pf_tc_ctx *
#define PF_HOOK_POD(ctx, addr) pod_hook(addr)
#define PF_HOOK_LPM(ctx, trie, addr, idp) lpm_hook((ctx), (trie), (addr), (idp))
#define PF_HOOK_EXT(ctx, i) ext_hook(i)
#define PF_HOOK_CT_LOOKUP(ctx, keyp) ct_lookup(keyp)
#define PF_HOOK_CT_INSERT(ctx, keyp) ct_insert(keyp)
#include "pfsim_classify.h"

/*
 * pf_tc_side - one side's trie lookup and port match: trie's longest prefix covering the
 * address (its 16 bytes as two words, in memory order), then pf_ports_match() on its value
 * for proto_port (proto << 16 | port). Returns -1 when no prefix covers the address, else
 * whether the ports match. A global function: verified once, on its own.
 */
__attribute__((noinline)) int pf_tc_side(__u64 addr_hi, __u64 addr_lo, __u32 trie,
					 __u32 proto_port)
{
	struct pf_tc_ctx x = { 0 };
	const struct pf_lpm_val *v;
	struct pf_lpm_key key;
	void *inner;

	inner = bpf_map_lookup_elem(&tries, &trie);
	if (!inner)
		return -1;
	key.prefixlen = 128;
	__builtin_memcpy(key.addr, &addr_hi, 8);
	__builtin_memcpy(key.addr + 8, &addr_lo, 8);
	v = bpf_map_lookup_elem(inner, &key);
	if (!v)
		return -1;
	return pf_ports_match(&x, v, (__u8)(proto_port >> 16), (__u16)proto_port);
}

static __always_inline __u32 be16_at(const __u8 *p)
{
	return (__u32)p[0] << 8 | p[1];
}

/*
 * the transport header at packet offset l4, within the datagram ending at dend: ports for
 * TCP, UDP and SCTP, flags for TCP; ICMP needs its 4 bytes; other protocols are not read
 */
static __always_inline __u32 parse_l4(struct __sk_buff *skb, __u32 l4, __u32 dend,
				      struct pf_pkt *pkt)
{
	__u8 b[20];

	switch (pkt->proto) {
	case IPPROTO_TCP:
		if (l4 + 20 > dend)
			return PF_TC_SKIP_BAD_L4;
		if (bpf_skb_load_bytes(skb, l4, b, 20))
			return PF_TC_SKIP_TRUNCATED;
		/* a data offset under 5 words overlaps the fixed header */
		if (b[12] < 0x50)
			return PF_TC_SKIP_BAD_L4;
		pkt->flags = b[13] & PF_PKT_F_TCP;
		break;
	case IPPROTO_UDP:
		if (l4 + 8 > dend)
			return PF_TC_SKIP_BAD_L4;
		if (bpf_skb_load_bytes(skb, l4, b, 8))
			return PF_TC_SKIP_TRUNCATED;
		break;
	case IPPROTO_SCTP:
		if (l4 + 12 > dend)
			return PF_TC_SKIP_BAD_L4;
		if (bpf_skb_load_bytes(skb, l4, b, 12))
			return PF_TC_SKIP_TRUNCATED;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (l4 + 4 > dend)
			return PF_TC_SKIP_BAD_L4;
		if (bpf_skb_load_bytes(skb, l4, b, 4))
			return PF_TC_SKIP_TRUNCATED;
		return PF_TC_OK;
	default:
		return PF_TC_OK;
	}
	pkt->sport = be16_at(b);
	pkt->dport = be16_at(b + 2);
	return PF_TC_OK;
}

static __always_inline __u32 parse_ipv4(struct __sk_buff *skb, void *data, void *end,
					__u32 off, struct pf_pkt *pkt)
{
	__u8 *h = data + off;
	__u32 hl, tot;

	if ((void *)(h + 20) > end)
		return PF_TC_SKIP_TRUNCATED;
	if (h[0] >> 4 != 4)
		return PF_TC_SKIP_BAD_IP;
	hl = (h[0] & 0x0f) * 4u;
	tot = be16_at(h + 2);
	/* total length 0: a segmentation-offload packet not split yet */
	if (tot == 0)
		tot = skb->len - off;
	if (hl < 20 || tot < hl)
		return PF_TC_SKIP_BAD_IP;
	/* options are not read, only skipped */
	if (off + hl > skb->len)
		return PF_TC_SKIP_TRUNCATED;
	pkt->family = 4;
	pkt->proto = h[9];
	pkt->saddr[10] = pkt->saddr[11] = 0xff;
	pkt->daddr[10] = pkt->daddr[11] = 0xff;
	__builtin_memcpy(pkt->saddr + 12, h + 12, 4);
	__builtin_memcpy(pkt->daddr + 12, h + 16, 4);
	/* a non-first fragment has no transport header: no ports to judge it by */
	if (be16_at(h + 6) & 0x1fff)
		return PF_TC_SKIP_FRAG;
	return parse_l4(skb, off + hl, off + tot, pkt);
}

static __always_inline __u32 parse_ipv6(struct __sk_buff *skb, void *data, void *end,
					__u32 off, struct pf_pkt *pkt)
{
	__u8 *h = data + off, x[8];
	__u32 plen, dend, pos, xlen, i;
	__u8 nh;

	if ((void *)(h + 40) > end)
		return PF_TC_SKIP_TRUNCATED;
	if (h[0] >> 4 != 6)
		return PF_TC_SKIP_BAD_IP;
	plen = be16_at(h + 4);
	/* payload length 0: a jumbogram, or an offload packet; the skb bounds it */
	dend = plen ? off + 40 + plen : skb->len;
	pkt->family = 6;
	__builtin_memcpy(pkt->saddr, h + 8, PF_ADDR_LEN);
	__builtin_memcpy(pkt->daddr, h + 24, PF_ADDR_LEN);
	nh = h[6];
	pos = off + 40;
	for (i = 0; i <= PF_TC_MAX_EXT; i++) {
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		    nh != IPPROTO_AH && nh != IPPROTO_FRAGMENT)
			break;
		if (i == PF_TC_MAX_EXT)
			return PF_TC_SKIP_HEADER_LIMIT;
		/* every extension header starts with next header and (but fragment) length */
		if (nh == IPPROTO_FRAGMENT) {
			if (pos + 8 > dend)
				return PF_TC_SKIP_BAD_IP;
			if (bpf_skb_load_bytes(skb, pos, x, 8))
				return PF_TC_SKIP_TRUNCATED;
			if (be16_at(x + 2) & 0xfff8)
				return PF_TC_SKIP_FRAG;
			xlen = 8;
		} else {
			if (pos + 2 > dend)
				return PF_TC_SKIP_BAD_IP;
			if (bpf_skb_load_bytes(skb, pos, x, 2))
				return PF_TC_SKIP_TRUNCATED;
			if (nh == IPPROTO_AH)
				xlen = (x[1] + 2u) * 4;
			else
				xlen = (x[1] + 1u) * 8;
		}
		if (pos + xlen > dend)
			return PF_TC_SKIP_BAD_IP;
		nh = x[0];
		pos += xlen;
	}
	pkt->proto = nh;
	return parse_l4(skb, pos, dend, pkt);
}

/*
 * the frame of skb into *pkt; PF_TC_OK or why it cannot be judged. The link and IP headers
 * at offsets the verifier can follow are read in place; the transport header and IPv6
 * extension headers, at offsets only known per packet, are copied out with
 * bpf_skb_load_bytes(), so the verifier need not follow every path of offsets.
 */
static __always_inline __u32 parse(struct __sk_buff *skb, struct pf_pkt *pkt)
{
	void *data, *end;
	__u8 *p;
	__u32 off = ETH_HLEN, et, i, len = skb->len;

	if (skb->data_end - skb->data < len)
		bpf_skb_pull_data(skb, len < PF_TC_PULL ? len : PF_TC_PULL);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	p = data;
	if ((void *)(p + ETH_HLEN) > end)
		return PF_TC_SKIP_TRUNCATED;
	et = be16_at(p + 12);
	/* VLAN tags in the frame (802.1Q, 802.1ad, old QinQ); an offloaded tag is in skb meta */
	for (i = 0; i <= PF_TC_MAX_VLAN; i++) {
		if (et != ETH_P_8021Q && et != ETH_P_8021AD && et != ETH_P_QINQ_OLD)
			break;
		if (i == PF_TC_MAX_VLAN)
			return PF_TC_SKIP_HEADER_LIMIT;
		p = data + off;
		if ((void *)(p + 4) > end)
			return PF_TC_SKIP_TRUNCATED;
		et = be16_at(p + 2);
		off += 4;
	}
	if (et == ETH_P_IP)
		return parse_ipv4(skb, data, end, off, pkt);
	if (et == ETH_P_IPV6)
		return parse_ipv6(skb, data, end, off, pkt);
	return PF_TC_SKIP_NOT_IP;
}

SEC("tc")
int pfsim_tc(struct __sk_buff *skb)
{
	struct pf_pkt pkt;
	struct pf_tc_ctx x = { &pkt };
	__u32 out[PF_OUT_WORDS], st, k = 0;
	const struct pf_tc_config *cfg;

	__builtin_memset(&pkt, 0, sizeof(pkt));
	st = parse(skb, &pkt);
	if (st != PF_TC_OK) {
		skb->cb[0] = 0;
		skb->cb[1] = st;
		skb->cb[2] = PF_NO_ENTRY;
		skb->cb[3] = PF_NO_ENTRY;
		return TC_ACT_OK;
	}
	cfg = bpf_map_lookup_elem(&config, &k);
	if (cfg && cfg->stateful)
		pf_classify(&x, &pkt, 1, out);
	else
		pf_classify(&x, &pkt, 0, out);
	skb->cb[0] = out[PF_OUT_VERDICT];
	skb->cb[1] = out[PF_OUT_REASON];
	skb->cb[2] = out[PF_OUT_EGRESS];
	skb->cb[3] = out[PF_OUT_INGRESS];
	return out[PF_OUT_VERDICT] == PF_VERDICT_ALLOW ? TC_ACT_OK : TC_ACT_SHOT;
}

/*
 * The two programs attached to a real datapath (the tc engine, src/engines/tc.ts), the way
 * the VPC CNI agent attaches its own: on the host-side veth of a pod,
 *
 *   tc_from_pod  ingress hook (packets the pod sends)     judges the source pod's egress
 *   tc_to_pod    egress hook (packets sent to the pod)    judges the destination's ingress
 *
 * Both share every map above, loaded once. They do not write skb->cb: on a real path it is
 * the qdisc's scratch space, and the verdict is whether the packet arrives.
 *
 * Conntrack: both hooks look the connection up, and a tracked packet passes either hook.
 * Only tc_to_pod, the last hook a packet crosses on its way, inserts an entry, once its own
 * side allowed the packet. Were tc_from_pod to insert, a first packet its egress side allowed
 * would be tracked before tc_to_pod judged it, so tc_to_pod would find it "established" and
 * skip the ingress check of a NEW connection (and a denied connection's reply would find an
 * entry too). Inserting at the last hook makes the pair decide exactly as pf_classify()
 * does: allowed when tracked, else when egress and then ingress allow; tracked when both
 * allowed it and pf_can_open() says so. This holds because every judged packet crosses
 * tc_from_pod and then tc_to_pod (in the testbed every packet goes src -> node -> dst); a
 * datapath where a pod's packet can leave without crossing a to-pod hook (off the node)
 * would need entries keyed with their owner pod and side, as the VPC CNI agent keys them.
 * A tracked packet's lookups at both hooks count it twice in pf_ct_val.packets.
 */
static __always_inline int pf_tc_hook(struct __sk_buff *skb, __u32 sides)
{
	struct pf_pkt pkt;
	struct pf_tc_ctx x = { &pkt };
	__u32 out[PF_OUT_WORDS], k = 0;
	const struct pf_tc_config *cfg;

	__builtin_memset(&pkt, 0, sizeof(pkt));
	if (parse(skb, &pkt) != PF_TC_OK)
		return TC_ACT_OK;	/* unjudged: the kernel's own IP stack deals with it */
	cfg = bpf_map_lookup_elem(&config, &k);
	if (cfg && cfg->stateful)
		pf_classify_sides(&x, &pkt, 1, sides, out);
	else
		pf_classify_sides(&x, &pkt, 0, sides, out);
	return out[PF_OUT_VERDICT] == PF_VERDICT_ALLOW ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int tc_from_pod(struct __sk_buff *skb)
{
	return pf_tc_hook(skb, PF_SIDE_EGRESS);
}

SEC("tc")
int tc_to_pod(struct __sk_buff *skb)
{
	return pf_tc_hook(skb, PF_SIDE_INGRESS | PF_SIDE_OPEN);
}

/* no GPL-only helper is called, so the licence is the project's own */
char LICENSE[] SEC("license") = "Apache-2.0";
