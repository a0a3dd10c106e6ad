/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpf_classifier.h - the tc program (native/bpf/pfsim_tc.bpf.c) loaded with libbpf, its maps
 * filled from the maps plan's flat arrays, run per packet with BPF_PROG_TEST_RUN.
 *
 * Every function returns 0 or a negative errno and, on error, leaves one line in err->msg
 * that starts with the operation ("bpf load pfsim_tc: Operation not permitted"). Nothing is
 * pinned: the program and maps live as long as the descriptors held here.
 */
#ifndef PFSIM_BPF_CLASSIFIER_H
#define PFSIM_BPF_CLASSIFIER_H

#include <stddef.h>
#include "pfsim.h"
#include "../load_arrays.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pfb_classifier;

/* verdict words per packet, as PF_OUT_WORDS of pfsim_classify.h */
#define PFB_OUT_WORDS 4

struct pfb_err {
	char msg[512];
};

/*
 * room the maps are made with, for later deltas (pfb_apply_delta); a field of 0, or one below
 * what the load itself needs, sizes that map to fit the load exactly
 */
struct pfb_capacity {
	__u32 pod_capacity;		/* pod_state records */
	__u32 trie_capacity;		/* slots of the outer map: trie ids below this */
	__u32 trie_entry_capacity;	/* entries of every LPM trie */
	__u32 ext_capacity;		/* extension pool slots */
};

/* pod_states state word of a delta that deletes the pod's record */
#define PFB_POD_DELETE 0xffffffffu

/*
 * One policy update (src/compile/delta.ts), already checked and laid out by the caller, applied
 * in this order: extension slots written; new tries made, filled from the first lpm_fill
 * operations and put in the outer map; pod records set or deleted; the other lpm operations;
 * gone tries taken out of the outer map.
 */
struct pfb_delta_args {
	const __u32 *ext_slots;		/* ext_count: pool slot of each entry of ext */
	const __u8 *ext;		/* 8 * ext_count: struct pf_port_entry */
	__u32 ext_count;
	const __u32 *new_tries;		/* new_trie_count trie ids, ascending */
	__u32 new_trie_count;
	const __u8 *pod_addrs;		/* 16 * pod_count */
	const __u32 *pod_states;	/* 2 * pod_count: pod id, state word or PFB_POD_DELETE */
	__u32 pod_count;
	const __u8 *lpm_keys;		/* 20 * lpm_count: struct pf_lpm_key */
	const __u32 *lpm_tries;		/* lpm_count */
	const __u32 *lpm_values;	/* lpm_count: index into values, or PF_NO_ENTRY to delete */
	__u32 lpm_count;
	__u32 lpm_fill;			/* the first lpm_fill operations fill new tries */
	const __u8 *values;		/* 200 * value_count: struct pf_lpm_val */
	__u32 value_count;
	const __u32 *gone_tries;	/* gone_trie_count trie ids */
	__u32 gone_trie_count;
};

/* what the maps hold now, read back element by element (for tests and diagnostics) */
struct pfb_dump {
	__u8 *pods;			/* 24 * pod_count: struct pf_pod_key, struct pf_pod_state */
	__u32 pod_count;
	__u32 *tries;			/* trie_count ids with a trie in the outer map, ascending */
	__u32 trie_count;
	__u8 *entries;			/* 224 * entry_count: __u32 trie id, pf_lpm_key, pf_lpm_val */
	__u32 entry_count;
	__u8 *ext;			/* 8 * ext_count: the whole extension pool */
	__u32 ext_count;
};

#define PFB_DUMP_ENTRY_BYTES (4 + sizeof(struct pf_lpm_key) + sizeof(struct pf_lpm_val))

/* what one run of the program said: skb->cb[0..3] and its return code */
struct pfb_run {
	__u32 out[PFB_OUT_WORDS];
	__u32 retval;
};

#define PFB_MAX_TRIES (1u << 24)
/* the largest size a load may ask for the pod, trie and extension maps */
#define PFB_MAX_CAPACITY (1u << 24)
#define PFB_CT_MIN 8u
#define PFB_CT_MAX (1u << 24)
#define PFB_CT_DEFAULT 65536u

/* keeps the object path and conntrack capacity; nothing is loaded until pfb_load() */
int pfb_new(const char *obj_path, __u32 ct_capacity, struct pfb_classifier **out,
	    struct pfb_err *err);
void pfb_free(struct pfb_classifier *c);
/* opens and loads the object sized for *a and fills its maps; on error keeps the old load */
int pfb_load(struct pfb_classifier *c, const struct pf_load_arrays *a, const struct pfb_capacity *cap,
	     struct pfb_err *err);
/* runs the program once per record, writing PF_OUT_WORDS words per packet into out */
int pfb_classify_batch(struct pfb_classifier *c, const struct pf_pkt *pkts, __u32 count,
		       __u32 *out, int stateful, struct pfb_err *err);
/*
 * frames run as their first PFB_RUN_FRAME_MAX bytes: BPF_PROG_TEST_RUN takes no more than a
 * page less the skb's overhead (about 3.7 KiB); the program reads headers only, and judges a
 * cut frame as the whole one unless its headers run past the cut
 */
#define PFB_RUN_FRAME_MAX 3072u

/* runs the program once on a raw Ethernet frame (cut to PFB_RUN_FRAME_MAX bytes) */
int pfb_run_frame(struct pfb_classifier *c, const __u8 *frame, __u32 len, int stateful,
		  struct pfb_run *run, struct pfb_err *err);
/* runs the program repeat times on frame (cut as above); *ns: the kernel's mean ns per run */
int pfb_time_frame(struct pfb_classifier *c, const __u8 *frame, __u32 len, __u32 repeat,
		   int stateful, __u32 *ns, struct pfb_err *err);
/* deletes every conntrack entry */
int pfb_reset_ct(struct pfb_classifier *c, struct pfb_err *err);

/*
 * applies one delta to the loaded maps with bpf_map_update_elem / bpf_map_delete_elem; *ops
 * counts the element writes and deletes made. A failure part way leaves the maps part
 * updated (the error names the operation); the caller must reload before trusting them.
 */
int pfb_apply_delta(struct pfb_classifier *c, const struct pfb_delta_args *a, __u32 *ops,
		    struct pfb_err *err);
/* reads every map back into malloc'd arrays; free them with pfb_dump_free() */
int pfb_dump(struct pfb_classifier *c, struct pfb_dump *d, struct pfb_err *err);
void pfb_dump_free(struct pfb_dump *d);

/*
 * Attach mode (before the first load): pfb_load() loads tc_from_pod and tc_to_pod instead of
 * the test-run program, sharing the same maps; the run functions then refuse.
 */
int pfb_set_attach_mode(struct pfb_classifier *c, int on, struct pfb_err *err);
/* whether the programs track connections (the config map) */
int pfb_set_stateful(struct pfb_classifier *c, int stateful, struct pfb_err *err);
/*
 * attaches tc_from_pod to the ingress hook of from_if and tc_to_pod to the egress hook of
 * to_if (clsact qdiscs made as needed), both interfaces in the network namespace of
 * netns_path (/run/netns/<name>). A short-lived thread enters the namespace with setns() and
 * leaves it; the calling thread never changes namespace. Nothing is pinned.
 */
int pfb_attach(struct pfb_classifier *c, const char *netns_path, const char *from_if,
	       const char *to_if, struct pfb_err *err);
/* removes the clsact qdiscs attach made; 0 when not attached or the namespace is gone */
int pfb_detach(struct pfb_classifier *c, struct pfb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* PFSIM_BPF_CLASSIFIER_H */
