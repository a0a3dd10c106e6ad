// SPDX-License-Identifier: Apache-2.0
/*
 * order.h - the replay pool's flows put in report order (src/pool/collect.ts): every slot
 * (worker) lists its flows in first-seen order, each with its first packet's place in the
 * trace and its report group; the summary lists the first `limit` flows of the whole trace,
 * by group, first-seen order within each.
 */
#ifndef PFSIM_POOL_ORDER_H
#define PFSIM_POOL_ORDER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* report groups: disagreements, aws departures, denied, allowed (reportGroup in summary.ts) */
#define PFP_GROUPS 4
/* slots at most: a slot number fits a byte */
#define PFP_MAX_SLOTS 255

/*
 * pfp_order_flows - merges the lists of `slots` slots by first place: slot s holds count[s]
 * flows, flow id's first packet at first[s][id] (ascending in id) and its report group at
 * group[s][id]. The first `limit` flows of the merge (ties: the lower slot first) are written
 * in report order, by group and in merge order within each: out_slot[k] and out_id[k] name the
 * flow at report place k. taken[s] receives how many of slot s's flows were placed (its first
 * ones), group_len[g] how many of group g.
 *
 * The caller gives out_slot and out_id room for min(limit, sum of count) entries, taken for
 * `slots`, group_len for PFP_GROUPS, and 1 <= slots <= PFP_MAX_SLOTS. Returns the flows placed,
 * or -1 when a group is not below PFP_GROUPS (nothing is placed then).
 */
int64_t pfp_order_flows(uint32_t slots, const double *const *first, const uint8_t *const *group,
			const uint32_t *count, uint32_t limit, uint8_t *out_slot, uint32_t *out_id,
			uint32_t *taken, uint32_t *group_len);

#ifdef __cplusplus
}
#endif

#endif
