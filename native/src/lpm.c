// SPDX-License-Identifier: Apache-2.0
/*
 * lpm.c - builds the lookup tables of one trie (see lpm.h).
 *
 * Prefixes are nested or disjoint, so sorted by (start, length) they can be swept with a
 * stack of the prefixes still open: each opens an interval with its own entry and, when it
 * closes, hands the rest of its parent's span back to the parent. The breakpoints that
 * sweep yields are split into the IPv4-mapped range and the rest, and each part is indexed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lpm.h"

#define PFS_V4_LO (((pfs_u128)0xffffu) << 32)
#define PFS_V4_HI (PFS_V4_LO | 0xffffffffu)
#define PFS_U128_MAX (~(pfs_u128)0)
/*
 * intervals per v4 bucket aimed at: fewer costs memory at 64 bytes a bucket, more sends
 * lookups into child nodes
 */
#ifndef PFS_V4_PER
#define PFS_V4_PER 2
#endif
/* nested prefixes have distinct lengths 0..128 */
#define PFS_MAX_DEPTH 129

_Static_assert(sizeof(struct pfs_v4_bucket) == 64, "a v4 bucket is one cache line");
_Static_assert(PFS_V4_BUCKET_RECS == 4, "pfs_lpm_v4_find counts r[1] .. r[4]");
_Static_assert(PFS_LPM_WINDOW == 4, "pfs_lpm_v6_find counts r[1] .. r[3]");

struct span {
	pfs_u128 start;
	pfs_u128 end;
	__u32 len;
	struct pfs_lpm_hit hit;
};

/* from start on (until the next breakpoint) hit is in force */
struct bp {
	pfs_u128 start;
	struct pfs_lpm_hit hit;
};

struct bp_list {
	struct bp *v;
	__u32 n;
};

static const struct pfs_lpm_hit no_hit = { PF_NO_ENTRY, PF_NO_ENTRY };

static pfs_u128 load_u128(const __u8 *p)
{
	return ((pfs_u128)pfs_load_be64(p) << 64) | pfs_load_be64(p + 8);
}

static int span_cmp(const void *pa, const void *pb)
{
	const struct span *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->hit.entry != b->hit.entry)
		return a->hit.entry < b->hit.entry ? -1 : 1;
	return 0;
}

/* appends a breakpoint; one at the same start replaces the last, an equal entry merges */
static void bp_push(struct bp_list *l, pfs_u128 start, struct pfs_lpm_hit hit)
{
	if (l->n && l->v[l->n - 1].start == start) {
		l->v[l->n - 1].hit = hit;
		if (l->n > 1 && l->v[l->n - 2].hit.entry == hit.entry)
			l->n--;
		return;
	}
	if (l->n && l->v[l->n - 1].hit.entry == hit.entry)
		return;
	l->v[l->n].start = start;
	l->v[l->n].hit = hit;
	l->n++;
}

/* sweeps sorted, deduplicated spans into breakpoints; out must hold 2 * n + 1 */
static int sweep(const struct span *s, __u32 n, struct bp_list *out)
{
	__u32 stack[PFS_MAX_DEPTH];
	__u32 sp = 0, i;
	int ret = 0;

	out->n = 0;
	bp_push(out, 0, no_hit);
	for (i = 0; i < n; i++) {
		while (sp && s[stack[sp - 1]].end < s[i].start) {
			sp--;
			bp_push(out, s[stack[sp]].end + 1, sp ? s[stack[sp - 1]].hit : no_hit);
		}
		if (sp == PFS_MAX_DEPTH) {
			ret = -EINVAL;
			goto cleanup;
		}
		stack[sp++] = i;
		bp_push(out, s[i].start, s[i].hit);
	}
	while (sp) {
		sp--;
		if (s[stack[sp]].end != PFS_U128_MAX)
			bp_push(out, s[stack[sp]].end + 1, sp ? s[stack[sp - 1]].hit : no_hit);
	}
cleanup:
	return ret;
}

/* what is in force at address a */
static struct pfs_lpm_hit bp_at(const struct bp_list *l, pfs_u128 a)
{
	__u32 i;

	/* l->v[0] starts at 0 */
	for (i = 1; i < l->n && l->v[i].start <= a; i++)
		;
	return l->v[i - 1].hit;
}

/* splits the breakpoints into the IPv4-mapped range (rebased to 0) and the rest */
static void split(const struct bp_list *all, struct bp_list *v4, struct bp_list *v6)
{
	const struct bp *b;
	__u32 i;

	v4->n = 0;
	v6->n = 0;
	bp_push(v4, 0, bp_at(all, PFS_V4_LO));
	for (i = 0; i < all->n; i++) {
		b = &all->v[i];
		if (b->start < PFS_V4_LO)
			bp_push(v6, b->start, b->hit);
		else if (b->start > PFS_V4_LO && b->start <= PFS_V4_HI)
			bp_push(v4, b->start - PFS_V4_LO, b->hit);
	}
	/* the v4 range is never searched in the v6 table: resume past it */
	bp_push(v6, PFS_V4_HI + 1, bp_at(all, PFS_V4_HI + 1));
	for (i = 0; i < all->n; i++) {
		b = &all->v[i];
		if (b->start > PFS_V4_HI + 1)
			bp_push(v6, b->start, b->hit);
	}
}

static __u32 log2_ceil(__u32 n)
{
	return n < 2 ? 0 : 32 - (__u32)__builtin_clz(n - 1);
}

static __u32 bitlen128(pfs_u128 v)
{
	__u64 hi = (__u64)(v >> 64), lo = (__u64)v;

	if (hi)
		return 128 - (__u32)__builtin_clzll(hi);
	return lo ? 64 - (__u32)__builtin_clzll(lo) : 0;
}

/*
 * radix geometry over the starts of v[1] .. v[n - 1], aiming at about `per` intervals per
 * bucket; no buckets when there is one interval
 */
static void geometry(const struct bp *v, __u32 n, __u32 per, pfs_u128 *base, __u32 *shift,
		     __u32 *nb)
{
	__u32 bits, k;
	pfs_u128 span;

	*base = 0;
	*shift = 0;
	*nb = 0;
	if (n < 2)
		return;
	k = log2_ceil((n - 1 + per - 1) / per);
	if (k < 1)
		k = 1;
	*base = v[1].start;
	span = v[n - 1].start - *base;
	bits = bitlen128(span);
	*shift = bits > k ? bits - k : 0;
	*nb = (__u32)(span >> *shift) + 1;
}

/* growable arrays of the v4 table while it is built */
struct v4_build {
	struct pfs_v4_node *nodes;
	struct pfs_v4_bucket *b;
	struct pfs_v4_rec *list;
	size_t nn, nb, nl;
	size_t nn_cap, nb_cap, nl_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *q;
	int ret = 0;

	if (need <= *cap)
		goto cleanup;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * size);
	if (!q) {
		ret = -ENOMEM;
		goto cleanup;
	}
	*p = q;
	*cap = c;
cleanup:
	return ret;
}

/*
 * v4 radix over the starts of v[1] .. v[n - 1] with about n / per buckets (at least two);
 * none when there is one interval
 */
static void v4_geometry(const struct bp *v, __u32 n, __u32 per, __u32 *base, __u32 *mult,
			__u32 *nb)
{
	__u64 want, m;
	__u32 span;

	*base = 0;
	*mult = 0;
	*nb = 0;
	if (n < 2)
		return;
	want = (n - 1 + per - 1) / per;
	if (want < 2)
		want = 2;
	*base = (__u32)v[1].start;
	span = (__u32)v[n - 1].start - *base;
	m = (want << 32) / ((__u64)span + 1);
	*mult = m > 0xffffffffu ? 0xffffffffu : (__u32)m;
	*nb = (__u32)(((__u64)span * *mult) >> 32) + 1;
}

/* first address (offset from the node base) of v4 bucket j: the least d mapping to j */
static __u64 v4_bucket_start(__u32 mult, __u32 j)
{
	return (((__u64)j << 32) + mult - 1) / mult;
}

/* interval in force at bucket j's start (*i, advanced) and the count beginning inside */
static __u32 v4_bucket_span(const struct bp *v, __u32 n, __u32 base, __u32 mult, __u32 j,
			    __u32 *i)
{
	__u64 start = base + v4_bucket_start(mult, j);
	__u64 end = base + v4_bucket_start(mult, j + 1);
	__u32 c;

	while (*i + 1 < n && v[*i + 1].start <= start)
		(*i)++;
	for (c = 0; *i + 1 + c < n && v[*i + 1 + c].start < end; c++)
		;
	return c;
}

/* a bucket holding v[0], in force at its start, and its c <= 4 inner intervals v[1..c] */
static void v4_inline(struct pfs_v4_bucket *bk, __u32 start, const struct bp *v, __u32 c)
{
	__u32 k;

	bk->n = c;
	bk->r[0].start = start;
	bk->r[0].hit = v[0].hit;
	for (k = 1; k <= PFS_V4_BUCKET_RECS; k++) {
		bk->r[k].start = k <= c ? (__u32)v[k].start : bk->r[c].start;
		bk->r[k].hit = v[k <= c ? k : c].hit;
	}
}

/*
 * v4_node - builds the radix node over intervals v[0..n-1], v[0] being in force where the
 * node's range begins, into *out; crowded buckets recurse, down to PFS_V4_LEVELS.
 */
static int v4_node(struct v4_build *bd, const struct bp *v, __u32 n, __u32 level,
		   struct pfs_v4_node *out)
{
	struct pfs_v4_node child;
	__u32 base, mult, nb, i = 0, j, c, k, start;
	size_t first, at;
	int ret;

	v4_geometry(v, n, PFS_V4_PER, &base, &mult, &nb);
	out->base = base;
	out->mult = mult;
	out->nb = nb;
	out->below = v[0].hit;
	out->above = v[n - 1].hit;
	first = bd->nb;
	ret = grow((void **)&bd->b, &bd->nb_cap, first + nb, sizeof(*bd->b));
	if (ret)
		goto cleanup;
	memset(bd->b + first, 0, sizeof(*bd->b) * nb);
	bd->nb += nb;
	out->first = (__u32)first;
	for (j = 0; j < nb; j++) {
		c = v4_bucket_span(v, n, base, mult, j, &i);
		start = base + (__u32)v4_bucket_start(mult, j);
		if (c <= PFS_V4_BUCKET_RECS) {
			v4_inline(&bd->b[first + j], start, v + i, c);
		} else if (level + 1 < PFS_V4_LEVELS) {
			at = bd->nn;
			ret = grow((void **)&bd->nodes, &bd->nn_cap, at + 1, sizeof(*bd->nodes));
			if (ret)
				goto cleanup;
			bd->nn++;
			ret = v4_node(bd, v + i, c + 1, level + 1, &child);
			if (ret)
				goto cleanup;
			bd->nodes[at] = child;
			v4_inline(&bd->b[first + j], start, v + i, 0);
			bd->b[first + j].r[0].start = (__u32)at;
			bd->b[first + j].n = PFS_V4_CHILD | c;
		} else {
			at = bd->nl;
			ret = grow((void **)&bd->list, &bd->nl_cap, at + c + 1, sizeof(*bd->list));
			if (ret)
				goto cleanup;
			bd->nl += c + 1;
			for (k = 0; k <= c; k++) {
				bd->list[at + k].start = k ? (__u32)v[i + k].start : start;
				bd->list[at + k].hit = v[i + k].hit;
			}
			v4_inline(&bd->b[first + j], start, v + i, 0);
			bd->b[first + j].r[0].start = (__u32)at;
			bd->b[first + j].n = PFS_V4_LIST | (c + 1);
		}
		i += c;
	}
cleanup:
	return ret;
}

/* idx[j] = last interval starting at or below base + (j << shift); idx[nb] = n - 1 */
static void v6_fill_index(const struct bp_list *l, pfs_u128 base, __u32 shift, __u32 nb,
			  __u32 *idx)
{
	__u32 i = 0, j;

	for (j = 0; j < nb; j++) {
		pfs_u128 thr = base + ((pfs_u128)j << shift);

		while (i + 1 < l->n && l->v[i + 1].start <= thr)
			i++;
		idx[j] = i;
	}
	idx[nb] = l->n - 1;
}

/* the v6 records end in PFS_LPM_WINDOW - 1 copies of the last, starting at the top */
static void v6_fill(const struct bp_list *l, struct pfs_v6_rec *r)
{
	__u32 i;

	for (i = 0; i < l->n + PFS_LPM_WINDOW - 1; i++) {
		const struct bp *b = &l->v[i < l->n ? i : l->n - 1];

		r[i].start = i < l->n ? b->start : PFS_U128_MAX;
		r[i].hit = b->hit;
	}
}

/* shared read-only tables of a trie without keys: every address misses */
#define PFS_NO_V6 { 0, { PF_NO_ENTRY, PF_NO_ENTRY }, { 0, 0 } }
static const struct pfs_v6_rec empty_v6[PFS_LPM_WINDOW] = {
	PFS_NO_V6, PFS_NO_V6, PFS_NO_V6, PFS_NO_V6
};
static const __u32 empty_idx[1] = { 0 };

static void init_empty(struct pfs_lpm *t)
{
	t->v4.root.below = no_hit;
	t->v4.root.above = no_hit;
	t->v6.recs = empty_v6;
	t->v6.idx = empty_idx;
	t->v6.n = 1;
}

static size_t align64(size_t v)
{
	return (v + 63) & ~(size_t)63;
}

/* sorted spans of the keys, the same prefix kept once (the last loaded); count in *m */
static int spans_of(const struct pfs_lpm_input *in, __u32 n, struct span *s, __u32 *m)
{
	__u32 i, k = 0;
	int ret = 0;

	for (i = 0; i < n; i++) {
		__u32 len = in[i].prefixlen;
		pfs_u128 mask;

		if (len > 128) {
			ret = -EINVAL;
			goto cleanup;
		}
		mask = len ? PFS_U128_MAX << (128 - len) : 0;
		s[i].start = load_u128(in[i].addr) & mask;
		s[i].end = s[i].start | ~mask;
		s[i].len = len;
		s[i].hit.entry = in[i].entry;
		s[i].hit.value = in[i].value;
	}
	/* equal prefixes sort by entry id, so the last loaded comes last */
	qsort(s, n, sizeof(*s), span_cmp);
	for (i = 0; i < n; i++) {
		if (k && s[k - 1].start == s[i].start && s[k - 1].len == s[i].len)
			k--;
		s[k++] = s[i];
	}
	*m = k;
cleanup:
	return ret;
}

/*
 * pfs_lpm_build - builds t from n keys. Host bits past a key's prefixlen are ignored; of
 * two keys with the same prefix the later one wins, as a map update would.
 * Returns 0, -EINVAL for a prefixlen over 128, -ENOMEM.
 */
int pfs_lpm_build(struct pfs_lpm *t, const struct pfs_lpm_input *in, __u32 n)
{
	struct bp_list all = { 0 }, v4 = { 0 }, v6 = { 0 };
	size_t cap = 2 * (size_t)n + 4, off_nd, off_l4, off_r6, off_i6, total;
	struct v4_build bd = { 0 };
	__u32 m = 0, sh6, nb6;
	pfs_u128 base6;
	struct span *s = NULL;
	__u8 *mem = NULL;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	if (!n) {
		init_empty(t);
		goto cleanup;
	}
	s = malloc(sizeof(*s) * n);
	all.v = malloc(sizeof(*all.v) * cap);
	v4.v = malloc(sizeof(*v4.v) * cap);
	v6.v = malloc(sizeof(*v6.v) * cap);
	if (!s || !all.v || !v4.v || !v6.v) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = spans_of(in, n, s, &m);
	if (ret)
		goto cleanup;
	ret = sweep(s, m, &all);
	if (ret)
		goto cleanup;
	split(&all, &v4, &v6);

	ret = v4_node(&bd, v4.v, v4.n, 0, &t->v4.root);
	if (ret)
		goto cleanup;
	geometry(v6.v, v6.n, 1, &base6, &sh6, &nb6);

	/* one block: v4 buckets, v4 nodes, v4 lists, v6 records, v6 index */
	off_nd = align64(sizeof(*bd.b) * bd.nb);
	off_l4 = align64(off_nd + sizeof(*bd.nodes) * bd.nn);
	off_r6 = align64(off_l4 + sizeof(*bd.list) * bd.nl);
	off_i6 = align64(off_r6 + sizeof(struct pfs_v6_rec) * (v6.n + PFS_LPM_WINDOW - 1));
	total = align64(off_i6 + sizeof(__u32) * ((size_t)nb6 + 1));
	mem = aligned_alloc(64, total);
	if (!mem) {
		ret = -ENOMEM;
		goto cleanup;
	}
	memset(mem, 0, total);
	if (bd.nb)
		memcpy(mem, bd.b, sizeof(*bd.b) * bd.nb);
	if (bd.nn)
		memcpy(mem + off_nd, bd.nodes, sizeof(*bd.nodes) * bd.nn);
	if (bd.nl)
		memcpy(mem + off_l4, bd.list, sizeof(*bd.list) * bd.nl);
	t->v4.b = (const struct pfs_v4_bucket *)mem;
	t->v4.nodes = (const struct pfs_v4_node *)(mem + off_nd);
	t->v4.list = (const struct pfs_v4_rec *)(mem + off_l4);

	t->v6.recs = (const struct pfs_v6_rec *)(mem + off_r6);
	t->v6.idx = (const __u32 *)(mem + off_i6);
	t->v6.base = base6;
	t->v6.shift = sh6;
	t->v6.nb = nb6;
	t->v6.n = v6.n;
	v6_fill(&v6, (struct pfs_v6_rec *)(mem + off_r6));
	v6_fill_index(&v6, base6, sh6, nb6, (__u32 *)(mem + off_i6));

	t->mem = mem;
	t->bytes = total;
	mem = NULL;
cleanup:
	free(mem);
	free(bd.list);
	free(bd.nodes);
	free(bd.b);
	free(v6.v);
	free(v4.v);
	free(all.v);
	free(s);
	return ret;
}

void pfs_lpm_free(struct pfs_lpm *t)
{
	free(t->mem);
	memset(t, 0, sizeof(*t));
}
