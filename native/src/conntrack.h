/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conntrack.h - connection tracking: open addressing over struct pf_ct_key, linear probing,
 * fixed power-of-two capacity. Inserting stops at 7/8 full (counted, never an error).
 * Each slot carries the table generation it was written in, so a reset is one increment.
 */
#ifndef PFSIM_CONNTRACK_H
#define PFSIM_CONNTRACK_H

#include <stddef.h>
#include "compiler.h"
#include <string.h>
#include "pfsim.h"

struct pfs_ct_slot {
	struct pf_ct_key key;
	struct pf_ct_val val;
	__u32 gen;		/* live when equal to the table's gen */
	__u32 pad;
};

struct pfs_conntrack {
	struct pfs_ct_slot *slots;
	__u64 insert_failed;
	__u64 clock;		/* packets seen: the last_seen stamp */
	__u32 capacity;
	__u32 mask;
	__u32 shift;
	__u32 limit;
	__u32 count;
	__u32 gen;
};

#define PFS_CT_MIN_CAPACITY 8u
#define PFS_CT_MAX_CAPACITY (1u << 28)

/* returns 0, -EINVAL for a capacity that is no power of two in range, -ENOMEM */
int pfs_ct_init(struct pfs_conntrack *ct, __u32 capacity);
void pfs_ct_reset(struct pfs_conntrack *ct);
void pfs_ct_free(struct pfs_conntrack *ct);

static __always_inline __u64 pfs_ct_hash(const struct pf_ct_key *k, __u64 w[5])
{
	__u64 h = 0x243f6a8885a308d3ull;
	int i;

	memcpy(w, k, 40);
	for (i = 0; i < 5; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h;
}

static __always_inline int pfs_ct_key_eq(const struct pfs_ct_slot *s, const __u64 w[5])
{
	__u64 v[5];

	memcpy(v, &s->key, 40);
	return ((v[0] ^ w[0]) | (v[1] ^ w[1]) | (v[2] ^ w[2]) | (v[3] ^ w[3]) |
		(v[4] ^ w[4])) == 0;
}

/* pfs_ct_lookup - 1 and the entry touched when the connection of k is tracked, else 0 */
static __always_inline int pfs_ct_lookup(struct pfs_conntrack *ct,
					 const struct pf_ct_key *k)
{
	struct pfs_ct_slot *s;
	__u64 w[5];
	__u32 i, n;
	int found = 0;

	ct->clock++;
	if (!ct->count)
		goto out;
	i = (__u32)(pfs_ct_hash(k, w) >> ct->shift);
	for (n = 0; n < ct->capacity; n++) {
		s = &ct->slots[i];
		if (s->gen != ct->gen)
			break;
		if (pfs_ct_key_eq(s, w)) {
			s->val.packets++;
			s->val.last_seen = ct->clock;
			found = 1;
			break;
		}
		i = (i + 1) & ct->mask;
	}
out:
	return found;
}

/* pfs_ct_insert - tracks the connection of k unless the table is 7/8 full */
static __always_inline void pfs_ct_insert(struct pfs_conntrack *ct,
					  const struct pf_ct_key *k)
{
	struct pfs_ct_slot *s;
	__u64 w[5];
	__u32 i, n;

	if (ct->count >= ct->limit) {
		ct->insert_failed++;
		goto out;
	}
	i = (__u32)(pfs_ct_hash(k, w) >> ct->shift);
	for (n = 0; n < ct->capacity; n++) {
		s = &ct->slots[i];
		if (s->gen != ct->gen) {
			memcpy(&s->key, w, 40);
			s->val.last_seen = ct->clock;
			s->val.packets = 1;
			s->val.flags = 0;
			s->gen = ct->gen;
			ct->count++;
			break;
		}
		if (pfs_ct_key_eq(s, w))
			break;
		i = (i + 1) & ct->mask;
	}
out:
	return;
}

#endif /* PFSIM_CONNTRACK_H */
