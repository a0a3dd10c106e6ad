/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pfsim_classify.h - the maps classification decision, written once for the host addon and
 * the tc program (clang -target bpf): static __always_inline only, no libc, no pointers kept in
 * structs, bounded loops, fixed-width types.
 *
 * The includer supplies the lookups before including this header:
 *
 *   PF_CTX                            type of the context handed to every hook
 *   PF_HOOK_POD(ctx, addr)            -> const struct pf_pod_state *, 0 when addr is no pod
 *   PF_HOOK_LPM(ctx, trie, addr, idp) -> const struct pf_lpm_val * of the longest prefix of
 *                                        trie that covers addr, 0 when none; stores the
 *                                        entry id in *idp
 *   PF_HOOK_EXT(ctx, i)               -> const struct pf_port_entry * of extension pool
 *                                        slot i, 0 when out of range
 *   PF_HOOK_CT_LOOKUP(ctx, keyp)      -> nonzero when the connection of *keyp is tracked
 *   PF_HOOK_CT_INSERT(ctx, keyp)      tracks the connection of *keyp. Its outcome is the hook's
 *                                     business: the addon's table may refuse when full of
 *                                     assured entries and then turns the verdict into a
 *                                     PF_REASON_CT_FULL drop (classifier.c), the tc program's
 *                                     LRU map evicts instead
 *
 * Every hook is called with ctx as given to pf_classify(); addr is a const __u8[16].
 */
#ifndef PFSIM_CLASSIFY_H
#define PFSIM_CLASSIFY_H

#include "pfsim.h"

#if !defined(PF_CTX) || !defined(PF_HOOK_POD) || !defined(PF_HOOK_LPM) || \
	!defined(PF_HOOK_EXT) || !defined(PF_HOOK_CT_LOOKUP) || !defined(PF_HOOK_CT_INSERT)
#error "define PF_CTX and the PF_HOOK_* lookups before including pfsim_classify.h"
#endif

/* the tc program wants every helper inlined, and so does the host's batch loop */
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* words per packet in the verdict output */
#define PF_OUT_WORDS 4
#define PF_OUT_VERDICT 0
#define PF_OUT_REASON 1
#define PF_OUT_EGRESS 2
#define PF_OUT_INGRESS 3

/* port entry i of value v (inline slots first, then the extension pool); 0 when absent */
static __always_inline const struct pf_port_entry *
pf_value_entry(PF_CTX ctx, const struct pf_lpm_val *v, __u32 i)
{
	(void)ctx;	/* hooks may ignore it */
	if (i < PF_VALUE_SLOTS)
		return &v->e[i];
	return PF_HOOK_EXT(ctx, v->ext + (i - PF_VALUE_SLOTS));
}

/*
 * pf_ports_match - does value v allow (proto, port)? Entries are sorted by (proto, start),
 * so PF_PROTO_ANY (255) entries come last: the last entry is checked first, which settles
 * the usual "any port" value at once; the scan then stops as soon as nothing later can
 * match. Returns 1 on a match, 0 otherwise (count 0 is an except hole: nothing).
 */
static __always_inline int pf_ports_match(PF_CTX ctx, const struct pf_lpm_val *v, __u8 proto,
					  __u16 port)
{
	const struct pf_port_entry *e;
	__u32 n = v->count, i;
	int any_tail, match = 0;

	if (n == 0)
		goto out;
	if (n > PF_VALUE_MAX_ENTRIES)
		n = PF_VALUE_MAX_ENTRIES;
	e = pf_value_entry(ctx, v, n - 1);
	if (!e)
		goto out;
	any_tail = e->proto == PF_PROTO_ANY;
	if (any_tail && e->start <= port && port <= e->end) {
		match = 1;
		goto out;
	}
	for (i = 0; i < PF_VALUE_MAX_ENTRIES; i++) {
		if (i >= n)
			break;
		e = pf_value_entry(ctx, v, i);
		if (!e)
			break;
		if (e->proto == proto || e->proto == PF_PROTO_ANY) {
			if (port <= e->end && port >= e->start) {
				match = 1;
				break;
			}
			/* later entries of this protocol start higher still */
			if (port < e->start && (e->proto == PF_PROTO_ANY || !any_tail))
				break;
		} else if (e->proto > proto && !any_tail) {
			break;
		}
	}
out:
	return match;
}

/* compares {a, pa} with {b, pb}: address bytes first, then port; <0, 0, >0 */
static __always_inline int pf_end_cmp(const __u8 *a, __u16 pa, const __u8 *b, __u16 pb)
{
	int i, d = 0;

	for (i = 0; i < PF_ADDR_LEN; i++) {
		if (a[i] != b[i]) {
			d = a[i] < b[i] ? -1 : 1;
			break;
		}
	}
	if (!d && pa != pb)
		d = pa < pb ? -1 : 1;
	return d;
}

/* pf_ct_key_build - the canonical conntrack key of pkt: the lower {addr, port} end first */
static __always_inline void pf_ct_key_build(const struct pf_pkt *pkt, struct pf_ct_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	if (pf_end_cmp(pkt->saddr, pkt->sport, pkt->daddr, pkt->dport) <= 0) {
		__builtin_memcpy(key->addr_a, pkt->saddr, PF_ADDR_LEN);
		__builtin_memcpy(key->addr_b, pkt->daddr, PF_ADDR_LEN);
		key->port_a = pkt->sport;
		key->port_b = pkt->dport;
	} else {
		__builtin_memcpy(key->addr_a, pkt->daddr, PF_ADDR_LEN);
		__builtin_memcpy(key->addr_b, pkt->saddr, PF_ADDR_LEN);
		key->port_a = pkt->dport;
		key->port_b = pkt->sport;
	}
	key->proto = pkt->proto;
}

#define PF_IPPROTO_TCP 6

/*
 * pf_can_open - may this allowed packet start tracking its connection? As netfilter's TCP
 * tracker with loose pickup: a SYN opens, so does a plain ACK (a connection picked up in the
 * middle); SYN-ACK, FIN and RST without an entry are invalid there and open nothing, so the
 * replies of a denied connection cannot open it. Other protocols: any allowed packet opens.
 */
static __always_inline int pf_can_open(const struct pf_pkt *pkt)
{
	__u8 f = pkt->flags;

	if (pkt->proto != PF_IPPROTO_TCP)
		return 1;
	if (f & (PF_PKT_F_FIN | PF_PKT_F_RST))
		return 0;
	if (f & PF_PKT_F_SYN)
		return !(f & PF_PKT_F_ACK);
	return (f & PF_PKT_F_ACK) != 0;
}

/*
 * what one call of pf_classify_sides() does: judge the source pod's egress policy, judge the
 * destination pod's ingress policy, and (stateful) let an allowed first packet open its
 * connection in conntrack. pf_classify() does all three; a tc program attached at one hook
 * of a real datapath does its share (see native/bpf/pfsim_tc.bpf.c).
 */
#define PF_SIDE_EGRESS 1u
#define PF_SIDE_INGRESS 2u
#define PF_SIDE_OPEN 4u
#define PF_SIDES_ALL (PF_SIDE_EGRESS | PF_SIDE_INGRESS | PF_SIDE_OPEN)

/*
 * pf_classify_sides - pf_classify() restricted to the sides in the mask `sides` (a constant
 * at every call, so the compiler drops what is not asked for). A side left out is taken as
 * not enforced; conntrack is looked up whenever stateful, and an entry is inserted only when
 * PF_SIDE_OPEN is in the mask.
 */
static __always_inline void pf_classify_sides(PF_CTX ctx, const struct pf_pkt *pkt, int stateful,
					      __u32 sides, __u32 *out)
{
	const struct pf_pod_state *ps;
	const struct pf_lpm_val *val;
	struct pf_ct_key key;
	__u32 verdict = PF_VERDICT_ALLOW, reason = PF_REASON_NOT_ISOLATED;
	__u32 eg = PF_NO_ENTRY, in = PF_NO_ENTRY, id;

	if (stateful) {
		pf_ct_key_build(pkt, &key);
		if (PF_HOOK_CT_LOOKUP(ctx, &key)) {
			reason = PF_REASON_ESTABLISHED;
			goto out;
		}
	}

	/* egress: the source pod must allow the destination */
	ps = (sides & PF_SIDE_EGRESS) ? PF_HOOK_POD(ctx, pkt->saddr) : 0;
	if (ps && ps->egress == PF_STATE_ENFORCE) {
		id = PF_NO_ENTRY;
		val = PF_HOOK_LPM(ctx, ps->pod_id * 2 + PF_DIR_EGRESS, pkt->daddr, &id);
		if (val)
			eg = id;
		if (!val || !pf_ports_match(ctx, val, pkt->proto, pkt->dport)) {
			verdict = PF_VERDICT_DENY;
			reason = PF_REASON_DENY_EGRESS;
			goto out;
		}
		reason = PF_REASON_POLICY;
	}

	/* ingress: the destination pod must allow the source */
	ps = (sides & PF_SIDE_INGRESS) ? PF_HOOK_POD(ctx, pkt->daddr) : 0;
	if (ps && ps->ingress == PF_STATE_ENFORCE) {
		id = PF_NO_ENTRY;
		val = PF_HOOK_LPM(ctx, ps->pod_id * 2 + PF_DIR_INGRESS, pkt->saddr, &id);
		if (val)
			in = id;
		if (!val || !pf_ports_match(ctx, val, pkt->proto, pkt->dport)) {
			verdict = PF_VERDICT_DENY;
			reason = PF_REASON_DENY_INGRESS;
			goto out;
		}
		reason = PF_REASON_POLICY;
	}

	if (stateful && (sides & PF_SIDE_OPEN) && pf_can_open(pkt))
		PF_HOOK_CT_INSERT(ctx, &key);
out:
	out[PF_OUT_VERDICT] = verdict;
	out[PF_OUT_REASON] = reason;
	out[PF_OUT_EGRESS] = eg;
	out[PF_OUT_INGRESS] = in;
}

/*
 * pf_classify - judges one packet into out[PF_OUT_WORDS]: verdict, reason, egress entry id,
 * ingress entry id. An entry id is the longest prefix found in the side's trie (also when
 * its ports refused the packet), PF_NO_ENTRY when the side was not enforced or no prefix
 * covered the peer. A packet not in conntrack is judged as its connection's first packet.
 */
static __always_inline void pf_classify(PF_CTX ctx, const struct pf_pkt *pkt, int stateful,
					__u32 *out)
{
	pf_classify_sides(ctx, pkt, stateful, PF_SIDES_ALL, out);
}

#endif /* PFSIM_CLASSIFY_H */
