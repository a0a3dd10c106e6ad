// SPDX-License-Identifier: Apache-2.0
/*
 * lpm.c - builds the lookup tables of one trie (see lpm.h).
 *
 * Prefixes are nested or disjoint, so sorted by (start, length) they can be swept with a
 * stack of the prefixes still open: each opens an interval with its own entry and, when it
 * closes, hands the rest of its parent's span back to the parent. The breakpoints that
 * sweep yields are split into the IPv4-mapped range and the rest, and each part is indexed.
 * The v4 tables are built top-down: a span holding one interval becomes a leaf slot, a few
 * a block or a wide block, more an index of wide blocks, more still a table over the span's
 * next address bits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lpm.h"

#define PFS_V4_LO (((pfs_u128)0xffffu) << 32)
#define PFS_V4_HI (PFS_V4_LO | 0xffffffffu)
#define PFS_U128_MAX (~(pfs_u128)0)
/*
 * root table: 2^(s0 + PFS_V4_ROOT_EXTRA) slots for 2^s0 .. 2^(s0 + 1) - 1 intervals, at
 * most 2^PFS_V4_ROOT_BITS; more slots make more of them leaves, at 8 bytes each
 */
#ifndef PFS_V4_ROOT_BITS
#define PFS_V4_ROOT_BITS 16
#endif
#ifndef PFS_V4_ROOT_EXTRA
#define PFS_V4_ROOT_EXTRA 2
#endif
/* intervals a block, a wide block and an index of wide blocks hold */
#define PFS_V4_BLOCK_MAX (PFS_V4_BLOCK_KEYS + 1)
#define PFS_V4_WIDE_MAX (PFS_V4_WIDE_KEYS + 1)
#define PFS_V4_INDEX_MAX (PFS_V4_WIDE_MAX * PFS_V4_INDEX_SEPS)
/* nested prefixes have distinct lengths 0..128 */
#define PFS_MAX_DEPTH 129

_Static_assert(sizeof(struct pfs_v4_block) == 64, "a v4 block is one cache line");
_Static_assert(sizeof(struct pfs_v4_wide) == 128, "a v4 wide block is two cache lines");
_Static_assert(sizeof(struct pfs_v4_index) == 64, "a v4 index is one cache line");
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

static __u32 log2_floor(__u32 n)
{
	return n < 2 ? 0 : 31 - (__u32)__builtin_clz(n);
}

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

/* the v4 tables while they are built: one growing region, referenced by offsets */
struct v4_build {
	__u8 *mem;
	size_t len, cap;
};

/* reserves bytes (zeroed) at an align-byte boundary of the region; the offset in *off */
static int v4_alloc(struct v4_build *bd, size_t bytes, size_t align, size_t *off)
{
	size_t at = (bd->len + align - 1) & ~(align - 1);
	int ret;

	/* references count 8-byte units in 32 bits */
	if (at + bytes > ((size_t)1 << 35)) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = grow((void **)&bd->mem, &bd->cap, at + bytes, 1);
	if (ret)
		goto cleanup;
	memset(bd->mem + bd->len, 0, at + bytes - bd->len);
	bd->len = at + bytes;
	*off = at;
cleanup:
	return ret;
}

static struct pfs_lpm_hit v4_ref(__u32 kind, __u32 param, size_t off)
{
	struct pfs_lpm_hit r = { (__u32)(off / 8), PFS_V4_REF | kind << 16 | param };

	return r;
}

/*
 * the n keys and n + 1 hits of a block: v[0] in force at its span's start, v[1 .. c - 1]
 * beginning inside (c <= n + 1), the last repeated
 */
static void v4_run_fill(__u32 *key, struct pfs_lpm_hit *hit, __u32 n, const struct bp *v,
			__u32 c)
{
	__u32 i;

	for (i = 0; i < n; i++)
		key[i] = c > 1 ? (__u32)v[i + 1 < c ? i + 1 : c - 1].start : 0xffffffffu;
	for (i = 0; i <= n; i++)
		hit[i] = v[i < c ? i : c - 1].hit;
}

static int v4_span(struct v4_build *bd, const struct bp *v, __u32 k, __u64 lo, __u32 w,
		   struct pfs_lpm_hit *slot);

/*
 * v4_table - a table of 2^s slots over span [lo, lo + 2^w) holding v[0] (in force at lo)
 * and v[1 .. k - 1] beginning inside; its offset in *off
 */
static int v4_table(struct v4_build *bd, const struct bp *v, __u32 k, __u64 lo, __u32 w,
		    __u32 s, size_t *off)
{
	struct pfs_lpm_hit slot;
	__u32 i = 0, c, j, sw = w - s;
	__u64 sub;
	int ret;

	ret = v4_alloc(bd, sizeof(slot) << s, 64, off);
	if (ret)
		goto cleanup;
	for (j = 0; j < (1u << s); j++) {
		sub = lo + ((__u64)j << sw);
		/* v[i] in force at sub, then c intervals begin inside the slot */
		while (i + 1 < k && v[i + 1].start <= sub)
			i++;
		for (c = 0; i + 1 + c < k && v[i + 1 + c].start < sub + ((__u64)1 << sw); c++)
			;
		ret = v4_span(bd, v + i, c + 1, sub, sw, &slot);
		if (ret)
			goto cleanup;
		memcpy(bd->mem + *off + sizeof(slot) * j, &slot, sizeof(slot));
		i += c;
	}
cleanup:
	return ret;
}

/*
 * v4_span - the slot over span [lo, lo + 2^w) holding v[0] (in force at lo) and
 * v[1 .. k - 1] beginning inside: a leaf, a block, a wide block, an index or a table
 */
static int v4_span(struct v4_build *bd, const struct bp *v, __u32 k, __u64 lo, __u32 w,
		   struct pfs_lpm_hit *slot)
{
	struct pfs_v4_block *bk;
	struct pfs_v4_wide *wd;
	struct pfs_v4_index *x;
	__u32 ng, g, s, c;
	size_t off;
	int ret = 0;

	if (k == 1) {
		*slot = v[0].hit;
	} else if (k <= PFS_V4_BLOCK_MAX) {
		ret = v4_alloc(bd, sizeof(*bk), 64, &off);
		if (ret)
			goto cleanup;
		bk = (struct pfs_v4_block *)(bd->mem + off);
		v4_run_fill(bk->key, bk->hit, PFS_V4_BLOCK_KEYS, v, k);
		*slot = v4_ref(PFS_V4_BLOCK, 0, off);
	} else if (k <= PFS_V4_WIDE_MAX) {
		ret = v4_alloc(bd, sizeof(*wd), 64, &off);
		if (ret)
			goto cleanup;
		wd = (struct pfs_v4_wide *)(bd->mem + off);
		v4_run_fill(wd->key, wd->hit, PFS_V4_WIDE_KEYS, v, k);
		*slot = v4_ref(PFS_V4_WIDE, 0, off);
	} else if (k <= PFS_V4_INDEX_MAX) {
		ng = (k + PFS_V4_WIDE_MAX - 1) / PFS_V4_WIDE_MAX;
		ret = v4_alloc(bd, sizeof(*x) + sizeof(*wd) * ng, 64, &off);
		if (ret)
			goto cleanup;
		x = (struct pfs_v4_index *)(bd->mem + off);
		for (g = 1; g < PFS_V4_INDEX_SEPS; g++)
			x->sep[g] = (__u32)v[PFS_V4_WIDE_MAX * (g < ng ? g : ng - 1)].start;
		for (g = 0; g < ng; g++) {
			wd = (struct pfs_v4_wide *)(x + 1) + g;
			c = k - PFS_V4_WIDE_MAX * g;
			v4_run_fill(wd->key, wd->hit, PFS_V4_WIDE_KEYS, v + PFS_V4_WIDE_MAX * g,
				    c < PFS_V4_WIDE_MAX ? c : PFS_V4_WIDE_MAX);
		}
		*slot = v4_ref(PFS_V4_INDEX, ng, off);
	} else {
		/* k > 176 intervals need w >= 8, and get s >= 7 bits */
		s = log2_floor(k);
		s = s < w ? s : w;
		ret = v4_table(bd, v, k, lo, w, s, &off);
		if (ret)
			goto cleanup;
		*slot = v4_ref(PFS_V4_TABLE, s | (w - s) << 8, off);
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
	t->v4.root = &no_hit;
	t->v4.shift = 32;
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

		if (len > 128 || in[i].value >= PFS_V4_REF) {
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
 * Returns 0, -EINVAL for a prefixlen over 128 or a value index of PFS_V4_REF or more,
 * -ENOMEM.
 */
int pfs_lpm_build(struct pfs_lpm *t, const struct pfs_lpm_input *in, __u32 n)
{
	struct bp_list all = { 0 }, v4 = { 0 }, v6 = { 0 };
	size_t cap = 2 * (size_t)n + 4, off_root, off_r6, off_i6, total;
	struct v4_build bd = { 0 };
	__u32 m = 0, sh6, nb6, s0;
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

	s0 = log2_floor(v4.n) + PFS_V4_ROOT_EXTRA;
	s0 = s0 < PFS_V4_ROOT_BITS ? s0 : PFS_V4_ROOT_BITS;
	ret = v4_table(&bd, v4.v, v4.n, 0, 32, s0, &off_root);
	if (ret)
		goto cleanup;
	geometry(v6.v, v6.n, 1, &base6, &sh6, &nb6);

	/* one block: v4 tables (the root first), v6 records, v6 index */
	off_r6 = align64(bd.len);
	off_i6 = align64(off_r6 + sizeof(struct pfs_v6_rec) * (v6.n + PFS_LPM_WINDOW - 1));
	total = align64(off_i6 + sizeof(__u32) * ((size_t)nb6 + 1));
	mem = aligned_alloc(64, total);
	if (!mem) {
		ret = -ENOMEM;
		goto cleanup;
	}
	memset(mem, 0, total);
	memcpy(mem, bd.mem, bd.len);
	t->v4.base = mem;
	t->v4.root = (const struct pfs_lpm_hit *)(mem + off_root);
	t->v4.shift = 32 - s0;

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
	free(bd.mem);
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
