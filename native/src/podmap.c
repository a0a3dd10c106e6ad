// SPDX-License-Identifier: Apache-2.0
/* podmap.c - builds the pod state map (see podmap.h) */
#include <errno.h>
#include <stdlib.h>

#include "podmap.h"

/* pfs_podmap_init - room for n addresses; returns 0 or -ENOMEM */
int pfs_podmap_init(struct pfs_podmap *m, __u32 n)
{
	__u32 bits = 4;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	while (bits < 31 && (1u << bits) < 2 * (__u64)n)
		bits++;
	m->slots = calloc((size_t)1 << bits, sizeof(*m->slots));
	if (!m->slots) {
		ret = -ENOMEM;
		goto cleanup;
	}
	m->mask = (1u << bits) - 1;
	m->shift = 64 - bits;
cleanup:
	return ret;
}

int pfs_podmap_insert(struct pfs_podmap *m, const __u8 *addr, const struct pf_pod_state *st)
{
	struct pfs_pod_slot *s;
	__u64 a, b;
	__u32 i, n;
	int ret = -ENOSPC;

	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	i = (__u32)(pfs_addr_hash(a, b) >> m->shift);
	for (n = 0; n <= m->mask; n++) {
		s = &m->slots[i];
		if (!s->used) {
			s->key[0] = a;
			s->key[1] = b;
			s->st = *st;
			s->used = 1;
			m->count++;
			ret = 0;
			goto cleanup;
		}
		if (s->key[0] == a && s->key[1] == b) {
			ret = -EEXIST;
			goto cleanup;
		}
		i = (i + 1) & m->mask;
	}
cleanup:
	return ret;
}

void pfs_podmap_free(struct pfs_podmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
