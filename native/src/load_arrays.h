/* SPDX-License-Identifier: Apache-2.0 */
/*
 * load_arrays.h - the flat arrays of one maps load (src/compile/layout.ts), as the host
 * classifier (classifier.h) and the tc program's loader (bpf/bpf_classifier.h) both take them;
 * napi_args.h unpacks them from a load() call. Host-only: the tc program never sees pointers.
 */
#ifndef PFSIM_LOAD_ARRAYS_H
#define PFSIM_LOAD_ARRAYS_H

#include "pfsim.h"

/* counts already checked against the arrays' byte lengths */
struct pf_load_arrays {
	const __u8 *pod_addrs;		/* 16 * pod_count */
	const __u32 *pod_states;	/* 2 * pod_count: pod id, ingress | egress << 8 */
	__u32 pod_count;
	__u32 trie_count;
	const __u8 *entry_keys;		/* 20 * entry_count: struct pf_lpm_key */
	const __u32 *entry_tries;	/* entry_count */
	const __u32 *entry_values;	/* entry_count */
	__u32 entry_count;
	const __u8 *values;		/* 200 * value_count: struct pf_lpm_val */
	__u32 value_count;
	const __u8 *ext;		/* 8 * ext_count: struct pf_port_entry */
	__u32 ext_count;
};

#endif
