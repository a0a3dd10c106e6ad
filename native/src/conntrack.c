// SPDX-License-Identifier: Apache-2.0
/* conntrack.c - conntrack table set-up and reset (see conntrack.h) */
#include <errno.h>
#include <stdlib.h>

#include "conntrack.h"

/*
 * pfs_ct_init - an empty table of capacity slots. calloc leaves the pages untouched until
 * used, so a large default costs address space rather than memory.
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
	ct->shift = 64 - (__u32)__builtin_ctz(capacity);
	ct->limit = capacity - capacity / 8;
	ct->gen = 1;
cleanup:
	return ret;
}

/* pfs_ct_reset - forgets every connection and the failure count */
void pfs_ct_reset(struct pfs_conntrack *ct)
{
	ct->gen++;
	/* slots of a wrapped generation could look live again: clear them for real */
	if (ct->gen == 0) {
		memset(ct->slots, 0, sizeof(*ct->slots) * (size_t)ct->capacity);
		ct->gen = 1;
	}
	ct->count = 0;
	ct->insert_failed = 0;
	ct->clock = 0;
}

void pfs_ct_free(struct pfs_conntrack *ct)
{
	free(ct->slots);
	memset(ct, 0, sizeof(*ct));
}
