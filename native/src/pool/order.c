// SPDX-License-Identifier: Apache-2.0
/*
 * order.c - pfp_order_flows (see order.h): two merges of the slots' lists, the first to count
 * each group, the second to write every flow straight to its report place. Nothing allocated.
 */
#include <string.h>

#include "order.h"

/*
 * the slot whose next flow came first, or -1 when every list is used up (a handful of slots:
 * a scan beats a heap)
 */
static inline int next_slot(uint32_t slots, const double *const *first, const uint32_t *count,
			    const uint32_t *next)
{
	int best = -1;
	double at = 0;
	uint32_t s;

	for (s = 0; s < slots; s++) {
		if (next[s] >= count[s])
			continue;
		if (best < 0 || first[s][next[s]] < at) {
			best = (int)s;
			at = first[s][next[s]];
		}
	}
	return best;
}

int64_t pfp_order_flows(uint32_t slots, const double *const *first, const uint8_t *const *group,
			const uint32_t *count, uint32_t limit, uint8_t *out_slot, uint32_t *out_id,
			uint32_t *taken, uint32_t *group_len)
{
	uint32_t next[PFP_MAX_SLOTS], place[PFP_GROUPS], n = 0, k, s, g;
	uint64_t total = 0;
	int b;

	for (s = 0; s < slots; s++) {
		total += count[s];
		for (k = 0; k < count[s]; k++)
			if (group[s][k] >= PFP_GROUPS)
				return -1;
	}
	n = total < limit ? (uint32_t)total : limit;
	memset(group_len, 0, PFP_GROUPS * sizeof(*group_len));
	memset(next, 0, slots * sizeof(*next));
	for (k = 0; k < n; k++) {
		b = next_slot(slots, first, count, next);
		group_len[group[b][next[b]++]]++;
	}
	memcpy(taken, next, slots * sizeof(*taken));
	for (g = 0, k = 0; g < PFP_GROUPS; g++) {
		place[g] = k;
		k += group_len[g];
	}
	memset(next, 0, slots * sizeof(*next));
	for (k = 0; k < n; k++) {
		b = next_slot(slots, first, count, next);
		g = group[b][next[b]];
		out_slot[place[g]] = (uint8_t)b;
		out_id[place[g]++] = next[b]++;
	}
	return n;
}
