/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lpm.h - userspace longest-prefix match over one trie's {prefixlen, addr[16]} keys.
 *
 * Loading turns the trie's prefixes into a sorted list of disjoint address intervals, each
 * carrying the entry id and value index of the longest prefix covering it (PF_NO_ENTRY for
 * none).
 *
 * The IPv4-mapped range ::ffff:0:0/96 has tables of its own, indexed directly by address
 * bits as in DIR-24-8, over 8-byte slots. A slot whose span lies inside one interval is a
 * leaf and holds that interval's hit; any other slot refers to what splits its span:
 *   - a block: one cache line with the interval in force at the span's start and up to four
 *     that begin inside it, counted without a branch;
 *   - a wide block: the same over two lines, up to eleven intervals;
 *   - an index: one line of up to 16 group starts, then one wide block per group (up to
 *     176 intervals in three lines, two of them fetched together);
 *   - a table: 2^s slots over the next s address bits, for spans more crowded than that.
 * The root table has two to four slots per interval, at most 2^16 (512 KiB), so a tiny
 * trie stays tiny; every other table is sized by the intervals under it, and blocks take at
 * most a cache line per two intervals. A lookup reads the root slot and, for a crowded
 * span, one or two more places.
 *
 * Everything else (IPv6) has a radix index into one sorted array of 128-bit intervals; a
 * bucket of up to PFS_LPM_WINDOW intervals is finished by counting starts, a larger one by
 * a branch-free binary search.
 *
 * Why not a bit trie: each level of one is a dependent cache miss. Here a lookup costs one
 * to three, and pfs_lpm_begin()/pfs_lpm_step() let a batch walk many lookups at once, one
 * level at a time with prefetches, so that those misses overlap.
 */
#ifndef PFSIM_LPM_H
#define PFSIM_LPM_H

#include <stddef.h>
#include <string.h>
#include "compiler.h"
#include "pfsim.h"

__extension__ typedef unsigned __int128 pfs_u128;

/*
 * what a lookup finds: entry id and value index, or PF_NO_ENTRY twice. As an IPv4 slot,
 * a value with the top byte PFS_V4_REF is no value but a reference (see below).
 */
struct pfs_lpm_hit {
	__u32 entry;
	__u32 value;
};

/*
 * IPv4 slot references: value = PFS_V4_REF | kind << 16 | param, entry = offset of the
 * block, index or table in 8-byte units from the v4 base. Value indexes stay below
 * PFS_V4_REF (pfs_lpm_build refuses others).
 */
#define PFS_V4_REF 0xfe000000u
#define PFS_V4_REF_MASK 0xff000000u
#define PFS_V4_BLOCK 1u		/* param unused */
#define PFS_V4_WIDE 2u		/* param unused */
#define PFS_V4_INDEX 3u		/* param: number of groups */
#define PFS_V4_TABLE 4u		/* param: s | shift << 8; slot (a >> shift) & (2^s - 1) */
#define PFS_V4_KIND(v) (((v) >> 16) & 0xffu)

#define PFS_V4_BLOCK_KEYS 4
#define PFS_V4_WIDE_KEYS 10
#define PFS_V4_INDEX_SEPS 16

/*
 * hit[0] is in force at the start of the block's span; key[i] is where hit[i + 1] begins.
 * Unused keys and hits repeat the last used one, so counting the keys at or below an
 * address picks its hit. 64 bytes.
 */
struct pfs_v4_block {
	__u32 key[PFS_V4_BLOCK_KEYS];
	struct pfs_lpm_hit hit[PFS_V4_BLOCK_KEYS + 1];
	__u32 pad[2];
};

/* the same over two cache lines: 128 bytes */
struct pfs_v4_wide {
	__u32 key[PFS_V4_WIDE_KEYS];
	struct pfs_lpm_hit hit[PFS_V4_WIDE_KEYS + 1];
};

/*
 * group g (g >= 1) begins at sep[g]; group 0 at the span's start (sep[0] unused). Unused
 * separators repeat the last used one. Wide block g follows the index line. 64 bytes.
 */
struct pfs_v4_index {
	__u32 sep[PFS_V4_INDEX_SEPS];
};

struct pfs_lpm_v4 {
	const struct pfs_lpm_hit *root;	/* 2^(32 - shift) slots, indexed by a >> shift */
	const __u8 *base;		/* reference offsets count from here */
	__u32 shift;			/* 16 .. 32 */
	__u32 pad;
};

/* intervals counted at once; the v6 table carries PFS_LPM_WINDOW - 1 padding records */
#define PFS_LPM_WINDOW 4

struct pfs_v6_rec {
	pfs_u128 start;
	struct pfs_lpm_hit hit;
	__u32 pad[2];
};

/*
 * bucket j covers addresses base + (j << shift) ..; the answer for an address in bucket j
 * lies in recs[idx[j]] .. recs[idx[j + 1]]; addresses below base hit recs[0], addresses
 * past the last bucket hit recs[n - 1].
 */
struct pfs_lpm_v6 {
	const struct pfs_v6_rec *recs;
	const __u32 *idx;
	pfs_u128 base;
	__u32 n;
	__u32 nb;
	__u32 shift;
	__u32 pad;
};

struct pfs_lpm {
	struct pfs_lpm_v4 v4;
	struct pfs_lpm_v6 v6;
	void *mem;	/* one block holding every table above, NULL when shared */
	size_t bytes;
};

/* one key handed to the builder: the entry id is its global load index */
struct pfs_lpm_input {
	__u32 prefixlen;
	__u32 entry;
	__u32 value;
	__u8 addr[PF_ADDR_LEN];
};

int pfs_lpm_build(struct pfs_lpm *t, const struct pfs_lpm_input *in, __u32 n);
void pfs_lpm_free(struct pfs_lpm *t);

static __always_inline __u64 pfs_load_be64(const __u8 *p)
{
	__u64 v;

	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

/* how many of the n keys lie at or below a */
static __always_inline __u32 pfs_v4_count(const __u32 *key, __u32 n, __u32 a)
{
	__u32 c = 0, i;

	for (i = 0; i < n; i++)
		c += key[i] <= a;
	return c;
}

/* the hit in force at a among block k's intervals */
static __always_inline struct pfs_lpm_hit pfs_v4_block_find(const struct pfs_v4_block *k,
							     __u32 a)
{
	return k->hit[pfs_v4_count(k->key, PFS_V4_BLOCK_KEYS, a)];
}

static __always_inline struct pfs_lpm_hit pfs_v4_wide_find(const struct pfs_v4_wide *k,
							    __u32 a)
{
	return k->hit[pfs_v4_count(k->key, PFS_V4_WIDE_KEYS, a)];
}

/* the wide block of the group a falls in, of an index of ng groups */
static __always_inline const struct pfs_v4_wide *
pfs_v4_index_find(const struct pfs_v4_index *x, __u32 ng, __u32 a)
{
	__u32 g = pfs_v4_count(x->sep + 1, PFS_V4_INDEX_SEPS - 1, a);

	/* past the last group, separators repeat */
	g = g < ng ? g : ng - 1;
	return (const struct pfs_v4_wide *)(x + 1) + g;
}

/* where the slot of table reference tag (at p) for a lies */
static __always_inline const struct pfs_lpm_hit *pfs_v4_table_slot(const void *p, __u32 tag,
								   __u32 a)
{
	__u32 s = tag & 0x1fu, shift = (tag >> 8) & 0x3fu;

	return (const struct pfs_lpm_hit *)p + ((a >> shift) & ((1u << s) - 1));
}

static __always_inline struct pfs_lpm_hit pfs_lpm_v4_find(const struct pfs_lpm_v4 *t,
							   __u32 a)
{
	struct pfs_lpm_hit s = t->root[(__u64)a >> t->shift];
	const void *p;
	__u32 level;

	/* a table splits at least one address bit: 32 levels at most */
	for (level = 0; level < 32; level++) {
		if ((s.value & PFS_V4_REF_MASK) != PFS_V4_REF)
			break;
		p = t->base + (size_t)s.entry * 8;
		switch (PFS_V4_KIND(s.value)) {
		case PFS_V4_TABLE:
			s = *pfs_v4_table_slot(p, s.value, a);
			continue;
		case PFS_V4_INDEX:
			s = pfs_v4_wide_find(pfs_v4_index_find(p, s.value & 0xffffu, a), a);
			break;
		case PFS_V4_WIDE:
			s = pfs_v4_wide_find(p, a);
			break;
		default:
			s = pfs_v4_block_find(p, a);
			break;
		}
		break;
	}
	return s;
}

/*
 * One lookup in flight: pfs_lpm_begin() starts it and prefetches what it reads next,
 * every pfs_lpm_step() goes one line further; both return 1 when hit holds the answer.
 * A batch keeps several in flight so that their cache misses overlap.
 */
struct pfs_lpm_cursor {
	const void *p;		/* read next */
	const __u8 *base;	/* of the v4 tables walked */
	__u32 a;
	__u32 tag;		/* what p is: 0 a slot, else a block, wide or index reference */
	struct pfs_lpm_hit hit;
};

/* moves cursor c to slot s: the answer when s is a leaf, else to what s refers to */
static __always_inline int pfs_v4_follow(struct pfs_lpm_cursor *c, struct pfs_lpm_hit s)
{
	const void *p;
	int done = 0;

	if ((s.value & PFS_V4_REF_MASK) != PFS_V4_REF) {
		c->hit = s;
		done = 1;
		goto out;
	}
	p = c->base + (size_t)s.entry * 8;
	if (PFS_V4_KIND(s.value) == PFS_V4_TABLE) {
		c->p = pfs_v4_table_slot(p, s.value, c->a);
		c->tag = 0;
	} else {
		c->p = p;
		c->tag = s.value;
		if (PFS_V4_KIND(s.value) == PFS_V4_WIDE)
			__builtin_prefetch((const __u8 *)p + 64);
	}
	__builtin_prefetch(c->p);
out:
	return done;
}

static __always_inline struct pfs_lpm_hit pfs_lpm_v6_find(const struct pfs_lpm_v6 *t,
							   pfs_u128 a)
{
	const struct pfs_v6_rec *r = t->recs;
	pfs_u128 d;
	__u32 lo, len, half;

	if (a < t->base)
		goto out;
	d = (a - t->base) >> t->shift;
	if (d >= t->nb) {
		r += t->n - 1;
		goto out;
	}
	lo = t->idx[(__u32)d];
	len = t->idx[(__u32)d + 1] - lo + 1;
	r += lo;
	/* r[0] starts at or below a; every start past the answer is above a */
	if (len <= PFS_LPM_WINDOW) {
		r += (r[1].start <= a) + (r[2].start <= a) + (r[3].start <= a);
		goto out;
	}
	while (len > 1) {
		half = len >> 1;
		r = r[half].start <= a ? r + half : r;
		len -= half;
	}
out:
	return r->hit;
}

/* pfs_lpm_find - entry id and value index of the longest prefix covering addr */
static __always_inline struct pfs_lpm_hit pfs_lpm_find(const struct pfs_lpm *t,
							const __u8 *addr)
{
	__u64 hi = pfs_load_be64(addr);
	__u64 lo = pfs_load_be64(addr + 8);

	if (hi == 0 && (lo >> 32) == 0xffffu)
		return pfs_lpm_v4_find(&t->v4, (__u32)lo);
	return pfs_lpm_v6_find(&t->v6, ((pfs_u128)hi << 64) | lo);
}

/* pfs_lpm_begin - starts cursor c on addr in t; returns 1 when c->hit is the answer already */
static __always_inline int pfs_lpm_begin(const struct pfs_lpm *t, const __u8 *addr,
					 struct pfs_lpm_cursor *c)
{
	__u64 hi = pfs_load_be64(addr);
	__u64 lo = pfs_load_be64(addr + 8);
	int done = 1;

	if (hi == 0 && (lo >> 32) == 0xffffu) {
		c->a = (__u32)lo;
		c->base = t->v4.base;
		c->p = &t->v4.root[(__u64)c->a >> t->v4.shift];
		c->tag = 0;
		__builtin_prefetch(c->p);
		done = 0;
	} else {
		c->hit = pfs_lpm_v6_find(&t->v6, ((pfs_u128)hi << 64) | lo);
	}
	return done;
}

/*
 * pfs_lpm_step_root - pfs_lpm_step() for a cursor pfs_lpm_begin() left going: it waits on
 * a root slot, so there is nothing to dispatch on
 */
static __always_inline int pfs_lpm_step_root(struct pfs_lpm_cursor *c)
{
	return pfs_v4_follow(c, *(const struct pfs_lpm_hit *)c->p);
}

/* pfs_lpm_step - reads the line c waits on; returns 1 when c->hit is the answer */
static __always_inline int pfs_lpm_step(struct pfs_lpm_cursor *c)
{
	const struct pfs_v4_wide *k;
	int done = 1;

	switch (PFS_V4_KIND(c->tag)) {
	case 0:
		done = pfs_v4_follow(c, *(const struct pfs_lpm_hit *)c->p);
		break;
	case PFS_V4_INDEX:
		k = pfs_v4_index_find(c->p, c->tag & 0xffffu, c->a);
		c->p = k;
		c->tag = PFS_V4_REF | PFS_V4_WIDE << 16;
		__builtin_prefetch(k);
		__builtin_prefetch((const __u8 *)k + 64);
		done = 0;
		break;
	case PFS_V4_WIDE:
		c->hit = pfs_v4_wide_find(c->p, c->a);
		break;
	default:
		c->hit = pfs_v4_block_find(c->p, c->a);
		break;
	}
	return done;
}

#endif /* PFSIM_LPM_H */
