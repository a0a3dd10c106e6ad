/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lpm.h - userspace longest-prefix match over one trie's {prefixlen, addr[16]} keys.
 *
 * Loading turns the trie's prefixes into a sorted list of disjoint address intervals, each
 * carrying the entry id and value index of the longest prefix covering it (PF_NO_ENTRY for
 * none). A radix over the span of interval starts cuts the address space into buckets.
 *
 * The IPv4-mapped range ::ffff:0:0/96 has a table of its own: one 64-byte bucket per radix
 * slot, holding the interval in force where the bucket begins and up to four that begin
 * inside it, so a lookup reads one cache line and counts four starts, with no branch and no
 * dependent load. A crowded bucket (clustered prefixes) gets a radix node of its own over
 * the span of its intervals, down to PFS_V4_LEVELS, then a sorted run searched in halves.
 * About two intervals share a bucket on average, so memory stays proportional to entries.
 *
 * Everything else (IPv6) has a radix index into one sorted array of 128-bit intervals; a
 * bucket of up to PFS_LPM_WINDOW intervals is finished by counting starts, a larger one by
 * a branch-free binary search.
 *
 * Why not a bit trie: each level of one is a dependent cache miss, here a lookup costs one
 * or two, and the CPU overlaps the lookups of consecutive packets.
 */
#ifndef PFSIM_LPM_H
#define PFSIM_LPM_H

#include <stddef.h>
#include <string.h>
#include "compiler.h"
#include "pfsim.h"

__extension__ typedef unsigned __int128 pfs_u128;

/* what a lookup finds: entry id and value index, or PF_NO_ENTRY twice */
struct pfs_lpm_hit {
	__u32 entry;
	__u32 value;
};

/* an IPv4 interval: where it starts (host order, offset in the ::ffff:0:0/96 range) */
struct pfs_v4_rec {
	__u32 start;
	struct pfs_lpm_hit hit;
};

#define PFS_V4_BUCKET_RECS 4
/* radix levels: a crowded bucket gets a radix node of its own, down to this depth */
#define PFS_V4_LEVELS 4
/* bucket n flags: r[0].start is a child node, or an offset into the sorted list array */
#define PFS_V4_CHILD 0x80000000u
#define PFS_V4_LIST 0x40000000u
#define PFS_V4_COUNT 0x3fffffffu

/*
 * r[0]: the interval in force where the bucket begins (its start is unused, or the child
 * node or list offset); r[1..4]: the intervals beginning inside it, the last repeated into
 * unused slots, so that counting the starts at or below an address picks the answer.
 * 64 bytes.
 */
struct pfs_v4_bucket {
	struct pfs_v4_rec r[PFS_V4_BUCKET_RECS + 1];
	__u32 n;	/* intervals beginning inside | PFS_V4_CHILD | PFS_V4_LIST */
};

/*
 * one radix over an address range: address a falls in bucket ((a - base) * mult) >> 32, a
 * multiply rather than a shift so that the bucket count need not be a power of two;
 * addresses below base hit `below`, those past the last bucket `above`
 */
struct pfs_v4_node {
	__u32 base;
	__u32 mult;
	__u32 nb;
	__u32 first;	/* index of its bucket 0 */
	struct pfs_lpm_hit below;
	struct pfs_lpm_hit above;
};

struct pfs_lpm_v4 {
	struct pfs_v4_node root;
	const struct pfs_v4_node *nodes;	/* child nodes */
	const struct pfs_v4_bucket *b;
	const struct pfs_v4_rec *list;		/* runs of records, searched */
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

/* the last of n records (n >= 1, r[0] at or below a) that starts at or below a */
static __always_inline const struct pfs_v4_rec *pfs_v4_search(const struct pfs_v4_rec *r,
							       __u32 n, __u32 a)
{
	__u32 half;

	while (n > 1) {
		half = n >> 1;
		r = r[half].start <= a ? r + half : r;
		n -= half;
	}
	return r;
}

static __always_inline struct pfs_lpm_hit pfs_lpm_v4_find(const struct pfs_lpm_v4 *t,
							   __u32 a)
{
	const struct pfs_v4_node *nd = &t->root;
	const struct pfs_v4_bucket *b;
	struct pfs_lpm_hit hit = { PF_NO_ENTRY, PF_NO_ENTRY };
	__u32 j, level;

	for (level = 0; level < PFS_V4_LEVELS; level++) {
		if (a < nd->base) {
			hit = nd->below;
			break;
		}
		j = (__u32)(((__u64)(a - nd->base) * nd->mult) >> 32);
		if (j >= nd->nb) {
			hit = nd->above;
			break;
		}
		b = &t->b[nd->first + j];
		if (!(b->n & (PFS_V4_CHILD | PFS_V4_LIST))) {
			hit = b->r[(b->r[1].start <= a) + (b->r[2].start <= a) +
				   (b->r[3].start <= a) + (b->r[4].start <= a)].hit;
			break;
		}
		if (b->n & PFS_V4_LIST) {
			hit = pfs_v4_search(t->list + b->r[0].start, b->n & PFS_V4_COUNT, a)->hit;
			break;
		}
		nd = &t->nodes[b->r[0].start];
	}
	return hit;
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

#endif /* PFSIM_LPM_H */
