// SPDX-License-Identifier: Apache-2.0
/* conntrack.c - conntrack table set-up, reset, deletion and sweeping (see conntrack.h) */
#include <errno.h>
#include <stdlib.h>

#include "conntrack.h"

/*
 * pfs_ct_init - an empty table of capacity slots holding up to 7/8 of them. calloc leaves
 * the pages untouched until used, so a large table costs address space rather than memory.
 */
int pfs_ct_init(struct pfs_conntrack *ct, __u32 capacity)
{
	int ret = 0;

	memset(ct, 0, sizeof(*ct));
	if (capacity < PFS_CT_MIN_CAPACITY || capacity > PFS_CT_MAX_CAPACITY ||
	    (capacity & (capacity - 1))) {
		ret = -EINVAL;
		goto cleanup;
	}
	ct->slots = calloc(capacity, sizeof(*ct->slots));
	if (!ct->slots) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ct->capacity = capacity;
	ct->mask = capacity - 1;
	ct->hash_shift = 32 - (__u32)__builtin_ctz(capacity);
	ct->max = capacity - capacity / 8;
	ct->gen = 1;
	ct->head = PFS_CT_NIL;
	ct->tail = PFS_CT_NIL;
cleanup:
	return ret;
}

/* a limit past 7/8 of the slots would let probe chains grow without bound */
int pfs_ct_set_max(struct pfs_conntrack *ct, __u32 max)
{
	if (max < 1 || max > ct->capacity - ct->capacity / 8)
		return -EINVAL;
	ct->max = max;
	return 0;
}

/* pfs_ct_reset - forgets every connection, the counters and the clock */
void pfs_ct_reset(struct pfs_conntrack *ct)
{
	ct->gen++;
	/* slots of a wrapped generation could look live again: clear them for real */
	if (ct->gen == 0) {
		memset(ct->slots, 0, sizeof(*ct->slots) * (size_t)ct->capacity);
		ct->gen = 1;
	}
	ct->count = 0;
	ct->unassured = 0;
	ct->head = PFS_CT_NIL;
	ct->tail = PFS_CT_NIL;
	ct->insert_failed = 0;
	ct->early_drops = 0;
	ct->expired = 0;
	ct->now = 0;
	ct->clock_started = 0;
	ct->swept = 0;
	ct->refused = 0;
}

void pfs_ct_free(struct pfs_conntrack *ct)
{
	free(ct->slots);
	memset(ct, 0, sizeof(*ct));
}

/* moves the entry of slot from into the empty slot to, its list links with it */
static void move_slot(struct pfs_conntrack *ct, __u32 from, __u32 to)
{
	struct pfs_ct_slot *s = &ct->slots[to];

	*s = ct->slots[from];
	ct->slots[from].gen = ct->gen - 1;
	if (s->bits & PFS_CT_ASSURED)
		return;
	if (s->prev != PFS_CT_NIL)
		ct->slots[s->prev].next = (__s32)to;
	else
		ct->head = (__s32)to;
	if (s->next != PFS_CT_NIL)
		ct->slots[s->next].prev = (__s32)to;
	else
		ct->tail = (__s32)to;
}

/*
 * pfs_ct_delete - empties slot i, then pulls back the entries after it whose home slot does
 * not lie between the hole and them, so every probe chain stays unbroken without tombstones
 */
void pfs_ct_delete(struct pfs_conntrack *ct, __u32 i)
{
	__u32 j = i, home;

	if (!(ct->slots[i].bits & PFS_CT_ASSURED))
		pfs_ct_unlink(ct, i);
	ct->slots[i].gen = ct->gen - 1;
	ct->count--;
	for (;;) {
		j = (j + 1) & ct->mask;
		if (!pfs_ct_live(ct, j))
			break;
		home = ct->slots[j].hash >> ct->hash_shift;
		/* the entry at j may fill the hole at i unless its home is cyclically in (i, j] */
		if (((j - home) & ct->mask) < ((j - i) & ct->mask))
			continue;
		move_slot(ct, j, i);
		i = j;
	}
}

/* pfs_ct_sweep - removes every expired entry; a hole refilled by a shift is looked at again */
void pfs_ct_sweep(struct pfs_conntrack *ct)
{
	__u32 i = 0;

	while (i < ct->capacity) {
		if (pfs_ct_live(ct, i) && pfs_ct_expired(ct, &ct->slots[i])) {
			ct->expired++;
			pfs_ct_delete(ct, i);
			continue;
		}
		i++;
	}
	ct->swept = 1;
	ct->swept_at = ct->now;
}
