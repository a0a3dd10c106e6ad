/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podmap.h - the pod state map: open addressing keyed by the 16-byte pod address, linear
 * probing, at most half full, built once per load.
 */
#ifndef PFSIM_PODMAP_H
#define PFSIM_PODMAP_H

#include <stddef.h>
#include "compiler.h"
#include <string.h>
#include "pfsim.h"

struct pfs_pod_slot {
	__u64 key[2];		/* the address bytes as loaded, native order */
	struct pf_pod_state st;
	__u32 used;
	__u32 pad;
};

struct pfs_podmap {
	struct pfs_pod_slot *slots;
	__u32 mask;
	__u32 shift;		/* 64 - log2(capacity): the hash's top bits pick the slot */
	__u32 count;
};

int pfs_podmap_init(struct pfs_podmap *m, __u32 n);
/* returns 0, -EEXIST for an address already present */
int pfs_podmap_insert(struct pfs_podmap *m, const __u8 *addr, const struct pf_pod_state *st);
void pfs_podmap_free(struct pfs_podmap *m);

static __always_inline __u64 pfs_addr_hash(__u64 a, __u64 b)
{
	__u64 h = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xc2b2ae3d27d4eb4full;

	return h ^ (h >> 31);
}

/* pfs_podmap_find - the state of pod address addr, NULL when none */
static __always_inline const struct pf_pod_state *
pfs_podmap_find(const struct pfs_podmap *m, const __u8 *addr)
{
	const struct pf_pod_state *st = NULL;
	const struct pfs_pod_slot *s;
	__u64 a, b;
	__u32 i, n;

	if (!m->count)
		goto out;
	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	i = (__u32)(pfs_addr_hash(a, b) >> m->shift);
	for (n = 0; n <= m->mask; n++) {
		s = &m->slots[i];
		if (!s->used)
			break;
		if (s->key[0] == a && s->key[1] == b) {
			st = &s->st;
			break;
		}
		i = (i + 1) & m->mask;
	}
out:
	return st;
}

#endif /* PFSIM_PODMAP_H */
