// SPDX-License-Identifier: Apache-2.0
/*
 * classifier.c - loads the maps plan into lookup tables and judges packet batches with the
 * shared decision in pfsim_classify.h.
 *
 * When the LPM tables outgrow the cache, a batch goes in groups of PFS_GROUP packets:
 * first the pod lookups and the LPM lookups pf_classify() will make are resolved for the
 * whole group, the LPM walks taking turns one cache line at a time with prefetches, so that
 * the group's cache misses overlap instead of queueing one after another; then pf_classify()
 * judges each packet, its hooks answering from what was resolved. Smaller tables are looked
 * up straight from the hooks. The decision itself stays in pfsim_classify.h, shared with the
 * tc program.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "conntrack.h"
#include "lpm.h"
#include "podmap.h"

/* everything one load() builds; replaced whole so a failed load changes nothing */
struct pfs_maps {
	struct pfs_podmap pods;
	struct pfs_lpm *tries;
	__u32 trie_count;
	__u32 entry_count;
	struct pf_lpm_val *vals;
	__u32 val_count;
	__u32 ext_count;
	struct pf_port_entry *ext;
	size_t lpm_bytes;
	int walk;		/* LPM lookups of a group walk together, with prefetches */
};

struct pfs_classifier {
	struct pfs_maps maps;
	struct pfs_conntrack ct;
};

static void maps_free(struct pfs_maps *m)
{
	__u32 i;

	if (m->tries) {
		for (i = 0; i < m->trie_count; i++)
			pfs_lpm_free(&m->tries[i]);
	}
	free(m->tries);
	free(m->vals);
	free(m->ext);
	pfs_podmap_free(&m->pods);
	memset(m, 0, sizeof(*m));
}

/* packets resolved together: enough lookups in flight to overlap their cache misses */
#ifndef PFS_GROUP
#define PFS_GROUP 16
#endif
_Static_assert(2 * PFS_GROUP <= 256, "walks of a group are listed by __u8 index");

/*
 * LPM tables of this many bytes in all are walked with prefetches; below, they stay in
 * cache, a walk's bookkeeping costs more than it hides, and lookups go straight through
 */
#ifndef PFS_WALK_BYTES
#define PFS_WALK_BYTES (1u << 20)
#endif

/* what a group resolved ahead for one packet */
struct pfs_pre {
	const struct pf_pod_state *src_pod;
	const struct pf_pod_state *dst_pod;
	__u32 eg_trie;			/* trie looked up for daddr, PF_NO_ENTRY for none */
	__u32 in_trie;			/* trie looked up for saddr, PF_NO_ENTRY for none */
	struct pfs_lpm_hit eg;
	struct pfs_lpm_hit in;
};

/* the context pfsim_classify.h hands to every hook: one packet and its resolved lookups */
struct pfs_ctx {
	struct pfs_classifier *c;
	const struct pf_pkt *pkt;
	const struct pfs_pre *pre;	/* NULL: nothing resolved ahead */
};

/* lookup hooks for pfsim_classify.h; a lookup not resolved ahead is made here */
static __always_inline const struct pf_pod_state *pod_hook(const struct pfs_ctx *x,
							    const __u8 *addr)
{
	if (x->pre && addr == x->pkt->saddr)
		return x->pre->src_pod;
	if (x->pre && addr == x->pkt->daddr)
		return x->pre->dst_pod;
	return pfs_podmap_find(&x->c->maps.pods, addr);
}

static __always_inline const struct pf_lpm_val *
lpm_hook(const struct pfs_ctx *x, __u32 trie, const __u8 *addr, __u32 *id)
{
	const struct pfs_maps *m = &x->c->maps;
	const struct pf_lpm_val *v = NULL;
	struct pfs_lpm_hit h;

	if (x->pre && trie == x->pre->in_trie && addr == x->pkt->saddr) {
		h = x->pre->in;
	} else if (x->pre && trie == x->pre->eg_trie && addr == x->pkt->daddr) {
		h = x->pre->eg;
	} else {
		if (trie >= m->trie_count)
			goto out;
		h = pfs_lpm_find(&m->tries[trie], addr);
	}
	*id = h.entry;
	/* value indexes were checked at load; PF_NO_ENTRY is past every one */
	if (h.value < m->val_count)
		v = &m->vals[h.value];
out:
	return v;
}

static __always_inline const struct pf_port_entry *ext_hook(const struct pfs_maps *m,
								 __u32 i)
{
	return i < m->ext_count ? &m->ext[i] : NULL;
}

#define PF_CTX const struct pfs_ctx *
#define PF_HOOK_POD(x, addr) pod_hook((x), (addr))
#define PF_HOOK_LPM(x, trie, addr, idp) lpm_hook((x), (trie), (addr), (idp))
#define PF_HOOK_EXT(x, i) ext_hook(&(x)->c->maps, (i))
#define PF_HOOK_CT_LOOKUP(x, k) pfs_ct_lookup(&(x)->c->ct, (k), (x)->pkt)
#define PF_HOOK_CT_INSERT(x, k) pfs_ct_insert(&(x)->c->ct, (k), (x)->pkt)
#include "pfsim_classify.h"

_Static_assert(sizeof(struct pf_pkt) == 40, "pf_pkt is 40 bytes");
_Static_assert(sizeof(struct pf_lpm_key) == 20, "pf_lpm_key is 20 bytes");
_Static_assert(sizeof(struct pf_lpm_val) == 200, "pf_lpm_val is 200 bytes");
_Static_assert(sizeof(struct pf_port_entry) == 8, "pf_port_entry is 8 bytes");
_Static_assert(sizeof(struct pf_ct_key) == 40, "pf_ct_key is 40 bytes");
_Static_assert(sizeof(struct pf_pod_state) == 8, "pf_pod_state is 8 bytes");

int pfs_classifier_new(__u32 ct_capacity, struct pfs_classifier **out)
{
	struct pfs_classifier *c;
	int ret;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = pfs_ct_init(&c->ct, ct_capacity);
	if (ret)
		goto cleanup;
	*out = c;
	c = NULL;
cleanup:
	free(c);
	return ret;
}

void pfs_classifier_free(struct pfs_classifier *c)
{
	if (c) {
		maps_free(&c->maps);
		pfs_ct_free(&c->ct);
		free(c);
	}
}

static int refuse(struct pfs_load_err *err, const char *arg, __u64 index, const char *what)
{
	err->arg = arg;
	err->index = index;
	err->what = what;
	return -EINVAL;
}

static int load_pods(struct pfs_maps *m, const struct pf_load_arrays *a, struct pfs_load_err *err)
{
	struct pf_pod_state st;
	__u32 i, w;
	int ret;

	ret = pfs_podmap_init(&m->pods, a->pod_count);
	if (ret)
		goto cleanup;
	for (i = 0; i < a->pod_count; i++) {
		memset(&st, 0, sizeof(st));
		st.pod_id = a->pod_states[2 * i];
		w = a->pod_states[2 * i + 1];
		if (st.pod_id > (PFS_MAX_TRIES - 1) / 2) {
			ret = refuse(err, "podStates", 2 * (__u64)i, "pod id too large");
			goto cleanup;
		}
		if ((w & ~0xffffu) || (w & 0xff) > PF_STATE_ENFORCE ||
		    ((w >> 8) & 0xff) > PF_STATE_ENFORCE) {
			ret = refuse(err, "podStates", 2 * (__u64)i + 1,
				     "state must be ingress | egress << 8 with each 0 or 1");
			goto cleanup;
		}
		st.ingress = w & 0xff;
		st.egress = (w >> 8) & 0xff;
		if ((st.ingress == PF_STATE_ENFORCE &&
		     st.pod_id * 2 + PF_DIR_INGRESS >= a->trie_count) ||
		    (st.egress == PF_STATE_ENFORCE &&
		     st.pod_id * 2 + PF_DIR_EGRESS >= a->trie_count)) {
			ret = refuse(err, "podStates", 2 * (__u64)i,
				     "enforced pod has no trie below trieCount");
			goto cleanup;
		}
		ret = pfs_podmap_insert(&m->pods, a->pod_addrs + 16 * (size_t)i, &st);
		if (ret == -EEXIST) {
			ret = refuse(err, "podAddrs", i, "duplicate pod address");
			goto cleanup;
		}
		if (ret)
			goto cleanup;
	}
cleanup:
	return ret;
}

static int load_values(struct pfs_maps *m, const struct pf_load_arrays *a,
		       struct pfs_load_err *err)
{
	struct pf_lpm_val *v;
	__u32 i;
	int ret = 0;

	m->val_count = a->value_count;
	m->ext_count = a->ext_count;
	m->vals = malloc(sizeof(*m->vals) * (a->value_count ? a->value_count : 1));
	m->ext = malloc(sizeof(*m->ext) * (a->ext_count ? a->ext_count : 1));
	if (!m->vals || !m->ext) {
		ret = -ENOMEM;
		goto cleanup;
	}
	if (a->value_count)
		memcpy(m->vals, a->values, sizeof(*m->vals) * a->value_count);
	if (a->ext_count)
		memcpy(m->ext, a->ext, sizeof(*m->ext) * a->ext_count);
	for (i = 0; i < a->value_count; i++) {
		v = &m->vals[i];
		if (v->count > PF_VALUE_MAX_ENTRIES) {
			ret = refuse(err, "values", i, "count exceeds PF_VALUE_MAX_ENTRIES");
			goto cleanup;
		}
		if (v->count > PF_VALUE_SLOTS &&
		    (__u64)v->ext + (v->count - PF_VALUE_SLOTS) > a->ext_count) {
			ret = refuse(err, "values", i, "extension entries past the end of ext");
			goto cleanup;
		}
	}
cleanup:
	return ret;
}

/* groups the entries by trie and builds one LPM table per trie */
static int load_tries(struct pfs_maps *m, const struct pf_load_arrays *a,
		      struct pfs_load_err *err)
{
	struct pfs_lpm_input *in = NULL;
	__u32 *first = NULL, *fill = NULL;
	__u32 e, t, prefixlen;
	int ret = 0;

	m->trie_count = a->trie_count;
	m->entry_count = a->entry_count;
	m->tries = calloc(a->trie_count ? a->trie_count : 1, sizeof(*m->tries));
	in = malloc(sizeof(*in) * (a->entry_count ? a->entry_count : 1));
	first = calloc((size_t)a->trie_count + 1, sizeof(*first));
	fill = calloc((size_t)a->trie_count + 1, sizeof(*fill));
	if (!m->tries || !in || !first || !fill) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (e = 0; e < a->entry_count; e++) {
		memcpy(&prefixlen, a->entry_keys + 20 * (size_t)e, 4);
		if (prefixlen > 128) {
			ret = refuse(err, "entryKeys", e, "prefixlen over 128");
			goto cleanup;
		}
		if (a->entry_tries[e] >= a->trie_count) {
			ret = refuse(err, "entryTries", e, "trie id not below trieCount");
			goto cleanup;
		}
		if (a->entry_values[e] >= a->value_count) {
			ret = refuse(err, "entryValues", e, "value index past the end of values");
			goto cleanup;
		}
		first[a->entry_tries[e] + 1]++;
	}
	for (t = 0; t < a->trie_count; t++)
		first[t + 1] += first[t];
	for (e = 0; e < a->entry_count; e++) {
		struct pfs_lpm_input *k;

		t = a->entry_tries[e];
		k = &in[first[t] + fill[t]++];
		memcpy(&k->prefixlen, a->entry_keys + 20 * (size_t)e, 4);
		memcpy(k->addr, a->entry_keys + 20 * (size_t)e + 4, PF_ADDR_LEN);
		k->entry = e;
		k->value = a->entry_values[e];
	}
	m->lpm_bytes = sizeof(*m->tries) * (size_t)a->trie_count;
	for (t = 0; t < a->trie_count; t++) {
		ret = pfs_lpm_build(&m->tries[t], in + first[t], first[t + 1] - first[t]);
		if (ret)
			goto cleanup;
		m->lpm_bytes += m->tries[t].bytes;
	}
	m->walk = m->lpm_bytes >= PFS_WALK_BYTES;
cleanup:
	free(fill);
	free(first);
	free(in);
	return ret;
}

int pfs_classifier_load(struct pfs_classifier *c, const struct pf_load_arrays *a,
			struct pfs_load_err *err)
{
	struct pfs_maps m;
	int ret;

	memset(&m, 0, sizeof(m));
	memset(err, 0, sizeof(*err));
	if (a->trie_count > PFS_MAX_TRIES || a->entry_count >= PF_NO_ENTRY) {
		ret = refuse(err, a->trie_count > PFS_MAX_TRIES ? "trieCount" : "entryKeys", 0,
			     "too many");
		goto cleanup;
	}
	ret = load_pods(&m, a, err);
	if (ret)
		goto cleanup;
	ret = load_values(&m, a, err);
	if (ret)
		goto cleanup;
	ret = load_tries(&m, a, err);
	if (ret)
		goto cleanup;
	maps_free(&c->maps);
	c->maps = m;
	memset(&m, 0, sizeof(m));
cleanup:
	maps_free(&m);
	return ret;
}

/* the walk's answer is in: store it and fetch the value the port match will read */
static __always_inline void walk_done(const struct pfs_maps *m, struct pfs_lpm_hit *to,
				      struct pfs_lpm_hit hit)
{
	*to = hit;
	if (hit.value < m->val_count)
		__builtin_prefetch(&m->vals[hit.value]);
}

/*
 * walk_start - starts on cur the walk for addr in trie, whose answer goes to *to; returns
 * 1 when the walk goes on. *trie_out is PF_NO_ENTRY when there is no such trie.
 */
static __always_inline int walk_start(const struct pfs_maps *m, __u32 trie, const __u8 *addr,
				      __u32 *trie_out, struct pfs_lpm_hit *to,
				      struct pfs_lpm_cursor *cur)
{
	int going = 0;

	*trie_out = PF_NO_ENTRY;
	if (trie >= m->trie_count)
		goto out;
	*trie_out = trie;
	if (pfs_lpm_begin(&m->tries[trie], addr, cur))
		walk_done(m, to, cur->hit);
	else
		going = 1;
out:
	return going;
}

/*
 * resolve - the pod states of both ends of pkts[0..n-1] and the LPM lookups pf_classify()
 * will make for them, into pre[]. The walks advance one line each per round.
 */
static void resolve(const struct pfs_maps *m, const struct pf_pkt *pkts, __u32 n,
		    struct pfs_pre *pre)
{
	struct pfs_lpm_cursor cur[2 * PFS_GROUP];
	struct pfs_lpm_hit *to[2 * PFS_GROUP];	/* where each walk's answer goes */
	__u8 live[2 * PFS_GROUP];		/* walks still going, by index */
	const struct pf_pod_state *ps;
	__u32 i, k, nw = 0, nl;

	for (i = 0; i < n; i++) {
		pre[i].src_pod = ps = pfs_podmap_find(&m->pods, pkts[i].saddr);
		pre[i].eg_trie = PF_NO_ENTRY;
		if (ps && ps->egress == PF_STATE_ENFORCE) {
			to[nw] = &pre[i].eg;
			nw += walk_start(m, ps->pod_id * 2 + PF_DIR_EGRESS, pkts[i].daddr,
					 &pre[i].eg_trie, &pre[i].eg, &cur[nw]);
		}
		pre[i].dst_pod = ps = pfs_podmap_find(&m->pods, pkts[i].daddr);
		pre[i].in_trie = PF_NO_ENTRY;
		if (ps && ps->ingress == PF_STATE_ENFORCE) {
			to[nw] = &pre[i].in;
			nw += walk_start(m, ps->pod_id * 2 + PF_DIR_INGRESS, pkts[i].saddr,
					 &pre[i].in_trie, &pre[i].in, &cur[nw]);
		}
	}
	/* every walk going waits on a root slot: the first round needs no dispatch */
	nl = 0;
	for (k = 0; k < nw; k++) {
		if (pfs_lpm_step_root(&cur[k]))
			walk_done(m, to[k], cur[k].hit);
		else
			live[nl++] = (__u8)k;
	}
	/* the cursors stay put, the list of those still going shrinks */
	while (nl) {
		nw = nl;
		nl = 0;
		for (i = 0; i < nw; i++) {
			k = live[i];
			if (pfs_lpm_step(&cur[k]))
				walk_done(m, to[k], cur[k].hit);
			else
				live[nl++] = (__u8)k;
		}
	}
}

/*
 * judge_stateful - one packet with conntrack, at trace second *time (NULL: the clock stays).
 * A new connection that finds the table full with nothing to drop early is dropped, as
 * netfilter drops the packet ("nf_conntrack: table full, dropping packet").
 */
static __always_inline void judge_stateful(struct pfs_ctx *x, const __u32 *time, __u32 *out)
{
	struct pfs_conntrack *ct = &x->c->ct;

	if (time)
		pfs_ct_advance_clock(ct, *time);
	pf_classify(x, x->pkt, 1, out);
	if (ct->refused) {
		ct->refused = 0;
		out[PF_OUT_VERDICT] = PF_VERDICT_DENY;
		out[PF_OUT_REASON] = PF_REASON_CT_FULL;
	}
}

/* judges pkts[0..count-1] with every lookup made from the hooks */
static void classify_plain(struct pfs_classifier *c, const struct pf_pkt *pkts, __u32 count,
			   const __u32 *times, __u32 *out, int stateful)
{
	struct pfs_ctx x = { c, NULL, NULL };
	__u32 i;

	/* two loops so the stateless one carries no conntrack code */
	if (stateful) {
		for (i = 0; i < count; i++) {
			x.pkt = &pkts[i];
			judge_stateful(&x, times ? &times[i] : NULL,
				       out + (size_t)PF_OUT_WORDS * i);
		}
	} else {
		for (i = 0; i < count; i++) {
			x.pkt = &pkts[i];
			pf_classify(&x, x.pkt, 0, out + (size_t)PF_OUT_WORDS * i);
		}
	}
}

/* judges pkts[0..count-1] a group at a time, the group's lookups resolved together */
static void classify_grouped(struct pfs_classifier *c, const struct pf_pkt *pkts,
			     __u32 count, const __u32 *times, __u32 *out, int stateful)
{
	struct pfs_pre pre[PFS_GROUP];
	struct pfs_ctx x = { c, NULL, NULL };
	__u32 g, i, n;

	for (g = 0; g < count; g += n) {
		n = count - g < PFS_GROUP ? count - g : PFS_GROUP;
		resolve(&c->maps, pkts + g, n, pre);
		for (i = 0; i < n; i++) {
			x.pkt = &pkts[g + i];
			x.pre = &pre[i];
			if (stateful)
				judge_stateful(&x, times ? &times[g + i] : NULL,
					       out + (size_t)PF_OUT_WORDS * (g + i));
			else
				pf_classify(&x, x.pkt, 0, out + (size_t)PF_OUT_WORDS * (g + i));
		}
	}
}

int pfs_classify_batch_at(struct pfs_classifier *c, const struct pf_pkt *pkts, __u32 count,
			  const __u32 *times, __u32 *out, int stateful)
{
	if (c->maps.walk)
		classify_grouped(c, pkts, count, times, out, stateful);
	else
		classify_plain(c, pkts, count, times, out, stateful);
	return 0;
}

int pfs_classify_batch(struct pfs_classifier *c, const struct pf_pkt *pkts, __u32 count,
		       __u32 *out, int stateful)
{
	return pfs_classify_batch_at(c, pkts, count, NULL, out, stateful);
}

int pfs_classifier_set_ct_max(struct pfs_classifier *c, __u32 max)
{
	return pfs_ct_set_max(&c->ct, max);
}

void pfs_classifier_reset_ct(struct pfs_classifier *c)
{
	pfs_ct_reset(&c->ct);
}

void pfs_classifier_stats(const struct pfs_classifier *c, struct pfs_stats *st)
{
	st->ct_entries = c->ct.count;
	st->ct_capacity = c->ct.capacity;
	st->ct_insert_failed = c->ct.insert_failed;
	st->ct_max = c->ct.max;
	st->ct_early_drops = c->ct.early_drops;
	st->ct_expired = c->ct.expired;
	st->lpm_bytes = c->maps.lpm_bytes;
}
