/* SPDX-License-Identifier: Apache-2.0 */
/*
 * classifier.h - the host maps classifier: the loaded maps (pod state, one LPM table per
 * trie, values, extension pool) and the conntrack table, judged by pfsim_classify.h.
 * One instance per JS object; nothing global, so any number of threads may hold their own.
 */
#ifndef PFSIM_CLASSIFIER_H
#define PFSIM_CLASSIFIER_H

#include <stddef.h>
#include "pfsim.h"
#include "load_arrays.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pfs_classifier;

/* which argument and element a load refused, and why */
struct pfs_load_err {
	const char *arg;
	__u64 index;
	const char *what;
};

struct pfs_stats {
	__u64 ct_entries;
	__u64 ct_capacity;
	__u64 ct_insert_failed;	/* new connections dropped: table full */
	__u64 ct_max;
	__u64 ct_early_drops;
	__u64 ct_expired;
	__u64 lpm_bytes;
};

#define PFS_MAX_TRIES (1u << 24)

/* returns 0, -EINVAL for a bad capacity, -ENOMEM */
int pfs_classifier_new(__u32 ct_capacity, struct pfs_classifier **out);
void pfs_classifier_free(struct pfs_classifier *c);
/* replaces the loaded maps; on error (-EINVAL with *err filled, -ENOMEM) keeps the old ones */
int pfs_classifier_load(struct pfs_classifier *c, const struct pf_load_arrays *a,
			struct pfs_load_err *err);
/* judges count packets into out (PF_OUT_WORDS each); pkts must be 2-byte aligned */
int pfs_classify_batch(struct pfs_classifier *c, const struct pf_pkt *pkts, __u32 count,
		       __u32 *out, int stateful);
/*
 * the same, times[i] the trace second of packet i (count of them) for conntrack aging;
 * times NULL: the clock stays where it was, nothing newly expires
 */
int pfs_classify_batch_at(struct pfs_classifier *c, const struct pf_pkt *pkts, __u32 count,
			  const __u32 *times, __u32 *out, int stateful);
/* conntrack entries at most, 1 to 7/8 of its capacity; 0 or -EINVAL */
int pfs_classifier_set_ct_max(struct pfs_classifier *c, __u32 max);
void pfs_classifier_reset_ct(struct pfs_classifier *c);
void pfs_classifier_stats(const struct pfs_classifier *c, struct pfs_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PFSIM_CLASSIFIER_H */
