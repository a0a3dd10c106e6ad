// SPDX-License-Identifier: Apache-2.0
/*
 * bpf_classifier.c - loads native/bpf/pfsim_tc.bpf.o with libbpf, sizes its maps to the plan,
 * fills them from the same arrays the host classifier takes, and runs the program on frames
 * with BPF_PROG_TEST_RUN: the struct __sk_buff context goes in zeroed and comes back with the
 * verdict words in cb[0..3].
 */
#define _GNU_SOURCE /* strdup, setns */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_classifier.h"
#include "bpf_frame.h"

#define PROG_NAME "pfsim_tc"
/* the programs an attach-mode load takes instead (see pfsim_tc.bpf.c) */
#define PROG_FROM_POD "tc_from_pod"
#define PROG_TO_POD "tc_to_pod"

/* one load of the object: everything a pfb_load() builds, replaced whole */
struct pfb_obj {
	struct bpf_object *obj;
	int prog_fd;		/* pfsim_tc; -1 in attach mode */
	int from_fd;		/* tc_from_pod and tc_to_pod; -1 unless attach mode */
	int to_fd;
	int tries_fd;
	int pods_fd;
	int ext_fd;
	int ct_fd;
	int config_fd;
	int stateful;		/* what the config map says now; -1 unknown */
	/* the sizes the maps were made with: the bounds of a delta */
	__u32 cap_pods;
	__u32 cap_tries;
	__u32 cap_trie_entries;
	__u32 cap_ext;
};

/* where the attach-mode programs are attached: hooks in one network namespace */
struct pfb_attachment {
	int attached;
	char netns[256];	/* /run/netns/<name> */
	int ifindex[2];		/* from-pod interface (ingress hook), to-pod interface (egress) */
};

struct pfb_classifier {
	char *path;
	__u32 ct_capacity;
	int attach_mode;
	struct pfb_obj o;
	struct pfb_attachment at;
};

/*
 * libbpf reports through one process-wide print callback. What a failed load printed is kept
 * per thread, so the error of a load names the verifier's or libbpf's own complaint.
 */
static _Thread_local char last_warn[256];
static _Thread_local char verifier_said[256];

/* the line before the verifier's "processed N insns" summary, else the log's last line */
static void keep_verifier_line(const char *log)
{
	const char *line = log, *nl, *prev = NULL, *last = NULL;
	size_t n;

	while (*line) {
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		if (n && strncmp(line, "-- ", 3) != 0) {
			if (!strncmp(line, "processed ", 10) && prev)
				break;
			prev = line;
		}
		if (n)
			last = line;
		if (!nl)
			break;
		line = nl + 1;
	}
	if (!prev)
		prev = last;
	if (!prev)
		return;
	n = strcspn(prev, "\n");
	if (n >= sizeof(verifier_said))
		n = sizeof(verifier_said) - 1;
	memcpy(verifier_said, prev, n);
	verifier_said[n] = 0;
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *buf;
	va_list cp;
	int n;

	if (level != LIBBPF_WARN)
		return 0;
	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n <= 0)
		return 0;
	buf = malloc((size_t)n + 1);
	if (!buf)
		return 0;
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	if (strstr(buf, "BEGIN PROG LOAD LOG")) {
		keep_verifier_line(strchr(buf, '\n') ? strchr(buf, '\n') + 1 : buf);
	} else {
		n = (int)strcspn(buf, "\n");
		if ((size_t)n >= sizeof(last_warn))
			n = sizeof(last_warn) - 1;
		memcpy(last_warn, buf, (size_t)n);
		last_warn[n] = 0;
	}
	free(buf);
	return 0;
}

static int fail(struct pfb_err *err, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret;
}

static void obj_close(struct pfb_obj *o)
{
	/* the maps and the program close with the object; inner tries die with the outer map */
	bpf_object__close(o->obj);
	memset(o, 0, sizeof(*o));
	o->prog_fd = o->from_fd = o->to_fd = -1;
	o->tries_fd = o->pods_fd = o->ext_fd = o->ct_fd = o->config_fd = -1;
}

int pfb_new(const char *obj_path, __u32 ct_capacity, struct pfb_classifier **out,
	    struct pfb_err *err)
{
	struct pfb_classifier *c = NULL;
	int ret = 0;

	*out = NULL;
	if (ct_capacity < PFB_CT_MIN || ct_capacity > PFB_CT_MAX) {
		ret = fail(err, -EINVAL, "bpf: ctCapacity %u is not from %u to %u", ct_capacity,
			   PFB_CT_MIN, PFB_CT_MAX);
		goto cleanup;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->path = strdup(obj_path);
	if (!c || !c->path) {
		ret = fail(err, -ENOMEM, "bpf: %s", strerror(ENOMEM));
		goto cleanup;
	}
	c->ct_capacity = ct_capacity;
	obj_close(&c->o);
	libbpf_set_print(print_fn);
	*out = c;
	c = NULL;
cleanup:
	if (c)
		free(c->path);
	free(c);
	return ret;
}

void pfb_free(struct pfb_classifier *c)
{
	struct pfb_err err;

	if (c) {
		pfb_detach(c, &err);	/* best effort: the hooks die with their namespace anyway */
		obj_close(&c->o);
		free(c->path);
		free(c);
	}
}

/* the same checks the host classifier's load makes, before anything reaches the kernel */
static int check_args(const struct pf_load_arrays *a, const struct pfb_capacity *cap,
		      struct pfb_err *err)
{
	struct { __u32 count, ext; } v;
	__u32 i, w, id, prefixlen;
	int ret = 0;

	if (a->trie_count > PFB_MAX_TRIES) {
		ret = fail(err, -EINVAL, "bpf load: trieCount: %u exceeds %u", a->trie_count,
			   PFB_MAX_TRIES);
		goto out;
	}
	if (cap->pod_capacity > PFB_MAX_CAPACITY || cap->trie_capacity > PFB_MAX_TRIES ||
	    cap->trie_entry_capacity > PFB_MAX_CAPACITY || cap->ext_capacity > PFB_MAX_CAPACITY) {
		ret = fail(err, -EINVAL, "bpf load: capacity: a map size exceeds %u",
			   PFB_MAX_CAPACITY);
		goto out;
	}
	for (i = 0; i < a->pod_count; i++) {
		id = a->pod_states[2 * i];
		w = a->pod_states[2 * i + 1];
		if (id > (PFB_MAX_TRIES - 1) / 2) {
			ret = fail(err, -EINVAL, "bpf load: podStates[%u]: pod id too large", 2 * i);
			goto out;
		}
		if ((w & ~0xffffu) || (w & 0xff) > PF_STATE_ENFORCE ||
		    ((w >> 8) & 0xff) > PF_STATE_ENFORCE) {
			ret = fail(err, -EINVAL,
				   "bpf load: podStates[%u]: state must be ingress | egress << 8 with each 0 or 1",
				   2 * i + 1);
			goto out;
		}
		if (((w & 0xff) == PF_STATE_ENFORCE && id * 2 + PF_DIR_INGRESS >= a->trie_count) ||
		    (((w >> 8) & 0xff) == PF_STATE_ENFORCE &&
		     id * 2 + PF_DIR_EGRESS >= a->trie_count)) {
			ret = fail(err, -EINVAL,
				   "bpf load: podStates[%u]: enforced pod has no trie below trieCount",
				   2 * i);
			goto out;
		}
	}
	for (i = 0; i < a->value_count; i++) {
		/* the head only: count and ext; the arrays need not be aligned */
		memcpy(&v, a->values + sizeof(struct pf_lpm_val) * (size_t)i, sizeof(v));
		if (v.count > PF_VALUE_MAX_ENTRIES) {
			ret = fail(err, -EINVAL,
				   "bpf load: values[%u]: count exceeds PF_VALUE_MAX_ENTRIES", i);
			goto out;
		}
		if (v.count > PF_TC_VALUE_MAX_ENTRIES) {
			ret = fail(err, -E2BIG,
				   "bpf load: values[%u]: %u port entries exceed the tc program's %u",
				   i, v.count, PF_TC_VALUE_MAX_ENTRIES);
			goto out;
		}
		if (v.count > PF_VALUE_SLOTS &&
		    (__u64)v.ext + (v.count - PF_VALUE_SLOTS) > a->ext_count) {
			ret = fail(err, -EINVAL,
				   "bpf load: values[%u]: extension entries past the end of ext", i);
			goto out;
		}
	}
	for (i = 0; i < a->entry_count; i++) {
		memcpy(&prefixlen, a->entry_keys + sizeof(struct pf_lpm_key) * (size_t)i, 4);
		if (prefixlen > 128) {
			ret = fail(err, -EINVAL, "bpf load: entryKeys[%u]: prefixlen over 128", i);
			goto out;
		}
		if (a->entry_tries[i] >= a->trie_count) {
			ret = fail(err, -EINVAL,
				   "bpf load: entryTries[%u]: trie id not below trieCount", i);
			goto out;
		}
		if (a->entry_values[i] >= a->value_count) {
			ret = fail(err, -EINVAL,
				   "bpf load: entryValues[%u]: value index past the end of values", i);
			goto out;
		}
	}
out:
	return ret;
}

static int map_fd(struct bpf_object *obj, const char *name, int *fd, struct pfb_err *err)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	int ret = 0;

	*fd = m ? bpf_map__fd(m) : -1;
	if (*fd < 0)
		ret = fail(err, -ENOENT, "bpf load " PROG_NAME ": map %s: not in the object", name);
	return ret;
}

/* the sizes each map is created with, from the plan; every map holds at least one slot */
struct sizes {
	__u32 tries;
	__u32 trie_max;
	__u32 pods;
	__u32 ext;
};

static int set_size(struct bpf_object *obj, const char *name, __u32 n, struct pfb_err *err)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	int ret = -ENOENT;

	if (!m) {
		fail(err, ret, "bpf load " PROG_NAME ": map %s: not in the object", name);
		goto out;
	}
	ret = bpf_map__set_max_entries(m, n ? n : 1);
	if (ret)
		fail(err, ret, "bpf load " PROG_NAME ": map %s: set size %u: %s", name, n,
		     strerror(-ret));
out:
	return ret;
}

/* a new LPM trie of the tc program's layout; the template of the outer map is one too */
static int trie_create(__u32 max_entries)
{
	struct bpf_map_create_opts opts;

	memset(&opts, 0, sizeof(opts));
	opts.sz = sizeof(opts);
	opts.map_flags = BPF_F_NO_PREALLOC;
	return bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "pf_trie", sizeof(struct pf_lpm_key),
			      sizeof(struct pf_lpm_val), max_entries, &opts);
}

/*
 * the outer map's inner template, sized to the largest trie. libbpf 1.1 cannot resize the
 * template it builds from BTF (bpf_map__set_max_entries() on bpf_map__inner_map() follows
 * a NULL object pointer), so the template is made here and handed over by descriptor.
 */
static int set_inner(struct bpf_object *obj, __u32 n, int *tmpl, struct pfb_err *err)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "tries");
	int ret = -ENOENT;

	if (!m) {
		fail(err, ret, "bpf load " PROG_NAME ": map tries: not in the object");
		goto out;
	}
	*tmpl = trie_create(n ? n : 1);
	if (*tmpl < 0) {
		ret = -errno;
		fail(err, ret, "bpf map create trie template: %s", strerror(-ret));
		goto out;
	}
	ret = bpf_map__set_inner_map_fd(m, *tmpl);
	if (ret)
		fail(err, ret, "bpf load " PROG_NAME ": map tries: set inner map: %s",
		     strerror(-ret));
out:
	return ret;
}

/* opens and loads the object with its maps sized; the program is verified here */
static int obj_open(struct pfb_classifier *c, const struct sizes *sz, struct pfb_obj *o,
		    struct pfb_err *err)
{
	struct bpf_program *prog;
	const char *why;
	int ret, tmpl = -1;

	last_warn[0] = 0;
	verifier_said[0] = 0;
	o->obj = bpf_object__open_file(c->path, NULL);
	if (!o->obj) {
		ret = -errno;
		fail(err, ret, "bpf open %s: %s%s%s", c->path, strerror(-ret),
		     last_warn[0] ? ": " : "", last_warn);
		goto out;
	}
	ret = set_size(o->obj, "tries", sz->tries, err);
	if (!ret)
		ret = set_inner(o->obj, sz->trie_max, &tmpl, err);
	if (!ret)
		ret = set_size(o->obj, "pod_state", sz->pods, err);
	if (!ret)
		ret = set_size(o->obj, "ports_ext", sz->ext, err);
	if (!ret)
		ret = set_size(o->obj, "conntrack", c->ct_capacity, err);
	/* one mode's programs only: the test-run program, or the two attached to hooks */
	bpf_object__for_each_program(prog, o->obj) {
		if (ret)
			break;
		ret = bpf_program__set_autoload(prog, c->attach_mode ?
						      strcmp(bpf_program__name(prog), PROG_NAME) != 0 :
						      strcmp(bpf_program__name(prog), PROG_NAME) == 0);
		if (ret)
			fail(err, ret, "bpf load " PROG_NAME ": set autoload: %s", strerror(-ret));
	}
	if (ret)
		goto out;
	ret = bpf_object__load(o->obj);
	if (ret) {
		why = verifier_said[0] ? verifier_said : last_warn;
		fail(err, ret, "bpf load " PROG_NAME ": %s%s%s", strerror(-ret), why[0] ? ": " : "",
		     why);
		goto out;
	}
	if (c->attach_mode) {
		prog = bpf_object__find_program_by_name(o->obj, PROG_FROM_POD);
		o->from_fd = prog ? bpf_program__fd(prog) : -1;
		prog = bpf_object__find_program_by_name(o->obj, PROG_TO_POD);
		o->to_fd = prog ? bpf_program__fd(prog) : -1;
		if (o->from_fd < 0 || o->to_fd < 0) {
			ret = fail(err, -ENOENT, "bpf load: programs " PROG_FROM_POD " and " PROG_TO_POD
				   " not in the object (rebuild it)");
			goto out;
		}
	} else {
		prog = bpf_object__find_program_by_name(o->obj, PROG_NAME);
		o->prog_fd = prog ? bpf_program__fd(prog) : -1;
		if (o->prog_fd < 0) {
			ret = fail(err, -ENOENT, "bpf load " PROG_NAME ": program not in the object");
			goto out;
		}
	}
	ret = map_fd(o->obj, "tries", &o->tries_fd, err);
	if (!ret)
		ret = map_fd(o->obj, "pod_state", &o->pods_fd, err);
	if (!ret)
		ret = map_fd(o->obj, "ports_ext", &o->ext_fd, err);
	if (!ret)
		ret = map_fd(o->obj, "conntrack", &o->ct_fd, err);
	if (!ret)
		ret = map_fd(o->obj, "config", &o->config_fd, err);
	o->stateful = -1;
out:
	/* the outer map keeps what it needs of the template */
	if (tmpl >= 0)
		close(tmpl);
	return ret;
}

static int fill_pods(struct pfb_obj *o, const struct pf_load_arrays *a, struct pfb_err *err)
{
	struct pf_pod_state st;
	__u32 i, w;
	int ret = 0;

	for (i = 0; i < a->pod_count; i++) {
		memset(&st, 0, sizeof(st));
		st.pod_id = a->pod_states[2 * i];
		w = a->pod_states[2 * i + 1];
		st.ingress = w & 0xff;
		st.egress = (w >> 8) & 0xff;
		if (bpf_map_update_elem(o->pods_fd, a->pod_addrs + 16 * (size_t)i, &st,
					BPF_NOEXIST)) {
			ret = -errno;
			if (ret == -EEXIST)
				ret = fail(err, -EINVAL, "bpf load: podAddrs[%u]: duplicate pod address",
					   i);
			else
				fail(err, ret, "bpf map update pod_state[%u]: %s", i, strerror(-ret));
			break;
		}
	}
	return ret;
}

static int fill_ext(struct pfb_obj *o, const struct pf_load_arrays *a, struct pfb_err *err)
{
	__u32 i;
	int ret = 0;

	for (i = 0; i < a->ext_count; i++) {
		if (bpf_map_update_elem(o->ext_fd, &i, a->ext + 8 * (size_t)i, BPF_ANY)) {
			ret = -errno;
			fail(err, ret, "bpf map update ports_ext[%u]: %s", i, strerror(-ret));
			break;
		}
	}
	return ret;
}

/* one LPM trie holding entries in[0..n-1] (entry indexes), put at slot trie of the outer map */
static int fill_trie(struct pfb_obj *o, const struct pf_load_arrays *a, __u32 trie,
		     const __u32 *in, __u32 n, __u32 max_entries, struct pfb_err *err)
{
	__u32 k, e;
	int fd, ret = 0;

	fd = trie_create(max_entries);
	if (fd < 0) {
		ret = -errno;
		fail(err, ret, "bpf map create trie %u: %s", trie, strerror(-ret));
		goto out;
	}
	for (k = 0; k < n; k++) {
		e = in[k];
		if (bpf_map_update_elem(fd, a->entry_keys + sizeof(struct pf_lpm_key) * (size_t)e,
					a->values + sizeof(struct pf_lpm_val) *
							    (size_t)a->entry_values[e],
					BPF_ANY)) {
			ret = -errno;
			fail(err, ret, "bpf map update trie %u entry %u: %s", trie, e,
			     strerror(-ret));
			goto out;
		}
	}
	if (bpf_map_update_elem(o->tries_fd, &trie, &fd, BPF_ANY)) {
		ret = -errno;
		fail(err, ret, "bpf map update tries[%u]: %s", trie, strerror(-ret));
	}
out:
	/* the outer map holds its own reference to the trie */
	if (fd >= 0)
		close(fd);
	return ret;
}

/* groups the entries by trie (a counting sort) and fills one trie per trie id with entries */
static int fill_tries(struct pfb_obj *o, const struct pf_load_arrays *a, __u32 trie_max,
		      struct pfb_err *err)
{
	__u32 *first = NULL, *order = NULL, *fill = NULL, t, e;
	int ret = 0;

	first = calloc((size_t)a->trie_count + 1, sizeof(*first));
	fill = calloc((size_t)a->trie_count + 1, sizeof(*fill));
	order = malloc(sizeof(*order) * (a->entry_count ? a->entry_count : 1));
	if (!first || !fill || !order) {
		ret = fail(err, -ENOMEM, "bpf load: %s", strerror(ENOMEM));
		goto cleanup;
	}
	for (e = 0; e < a->entry_count; e++)
		first[a->entry_tries[e] + 1]++;
	for (t = 0; t < a->trie_count; t++)
		first[t + 1] += first[t];
	for (e = 0; e < a->entry_count; e++) {
		t = a->entry_tries[e];
		order[first[t] + fill[t]++] = e;
	}
	for (t = 0; t < a->trie_count; t++) {
		if (first[t + 1] == first[t])
			continue;	/* no trie: the lookup finds nothing, as an empty trie would */
		ret = fill_trie(o, a, t, order + first[t], first[t + 1] - first[t], trie_max, err);
		if (ret)
			goto cleanup;
	}
cleanup:
	free(order);
	free(fill);
	free(first);
	return ret;
}

static __u32 max_u32(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

/* the largest number of entries any one trie holds */
static __u32 largest_trie(const struct pf_load_arrays *a)
{
	__u32 *count, e, t, max = 0;

	count = calloc((size_t)a->trie_count + 1, sizeof(*count));
	if (!count)
		return a->entry_count;
	for (e = 0; e < a->entry_count; e++) {
		t = a->entry_tries[e];
		if (++count[t] > max)
			max = count[t];
	}
	free(count);
	return max;
}

static int set_stateful(struct pfb_obj *o, int stateful, struct pfb_err *err)
{
	struct pf_tc_config cfg;
	__u32 k = 0;
	int ret = 0;

	if (o->stateful == stateful)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.stateful = stateful ? 1 : 0;
	if (bpf_map_update_elem(o->config_fd, &k, &cfg, BPF_ANY)) {
		ret = -errno;
		fail(err, ret, "bpf map update config: %s", strerror(-ret));
		goto out;
	}
	o->stateful = stateful;
out:
	return ret;
}

int pfb_load(struct pfb_classifier *c, const struct pf_load_arrays *a, const struct pfb_capacity *cap,
	     struct pfb_err *err)
{
	struct pfb_obj o;
	struct sizes sz;
	int ret;

	memset(&o, 0, sizeof(o));
	obj_close(&o);
	ret = 0;
	if (c->at.attached)
		ret = fail(err, -EBUSY, "bpf load: programs are attached (detach first)");
	if (!ret)
		ret = check_args(a, cap, err);
	if (ret)
		goto cleanup;
	sz.tries = max_u32(a->trie_count, cap->trie_capacity);
	sz.trie_max = max_u32(max_u32(largest_trie(a), cap->trie_entry_capacity), 1);
	sz.pods = max_u32(a->pod_count, cap->pod_capacity);
	sz.ext = max_u32(a->ext_count, cap->ext_capacity);
	ret = obj_open(c, &sz, &o, err);
	if (ret)
		goto cleanup;
	/* every map holds at least one slot (set_size) */
	o.cap_tries = max_u32(sz.tries, 1);
	o.cap_trie_entries = sz.trie_max;
	o.cap_pods = max_u32(sz.pods, 1);
	o.cap_ext = max_u32(sz.ext, 1);
	ret = fill_pods(&o, a, err);
	if (!ret)
		ret = fill_ext(&o, a, err);
	if (!ret)
		ret = fill_tries(&o, a, sz.trie_max, err);
	if (!ret)
		ret = set_stateful(&o, 0, err);
	if (ret)
		goto cleanup;
	obj_close(&c->o);
	c->o = o;
	memset(&o, 0, sizeof(o));
	obj_close(&o);
cleanup:
	obj_close(&o);
	return ret;
}

static int loaded(const struct pfb_classifier *c, const char *op, struct pfb_err *err)
{
	if (c->o.obj)
		return 0;
	return fail(err, -ENOENT, "%s: no program loaded (call load first)", op);
}

/* the test-run program is loaded (not so in attach mode) */
static int runnable(const struct pfb_classifier *c, const char *op, struct pfb_err *err)
{
	int ret = loaded(c, op, err);

	if (!ret && c->o.prog_fd < 0)
		ret = fail(err, -EINVAL, "%s: not available on an attach-mode classifier", op);
	return ret;
}

/* one test run of frame; the context goes in zeroed, cb[] comes back */
static int test_run(const struct pfb_obj *o, const __u8 *frame, __u32 len, __u32 repeat,
		    struct pfb_run *run, __u32 *ns, struct pfb_err *err)
{
	struct bpf_test_run_opts opts;
	struct __sk_buff in, out;
	int ret;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	memset(&opts, 0, sizeof(opts));
	opts.sz = sizeof(opts);
	opts.data_in = frame;
	opts.data_size_in = len < PFB_RUN_FRAME_MAX ? len : PFB_RUN_FRAME_MAX;
	opts.ctx_in = &in;
	opts.ctx_size_in = sizeof(in);
	opts.ctx_out = &out;
	opts.ctx_size_out = sizeof(out);
	opts.repeat = (int)repeat;
	ret = bpf_prog_test_run_opts(o->prog_fd, &opts);
	if (ret) {
		ret = -errno;
		fail(err, ret, "bpf test run: %s", strerror(-ret));
		goto out;
	}
	if (run) {
		memcpy(run->out, out.cb, sizeof(run->out));
		run->retval = opts.retval;
	}
	if (ns)
		*ns = opts.duration;
out:
	return ret;
}

int pfb_classify_batch(struct pfb_classifier *c, const struct pf_pkt *pkts, __u32 count,
		       __u32 *out, int stateful, struct pfb_err *err)
{
	__u8 frame[PFB_FRAME_MAX];
	struct pf_pkt pkt;
	struct pfb_run run;
	const char *why;
	__u32 i, len;
	int ret;

	ret = runnable(c, "classifyBatch", err);
	if (!ret)
		ret = set_stateful(&c->o, stateful, err);
	for (i = 0; !ret && i < count; i++) {
		memcpy(&pkt, &pkts[i], sizeof(pkt));
		if (pfb_frame(&pkt, frame, &len, &why)) {
			ret = fail(err, -EINVAL, "classifyBatch: pkts[%u]: %s", i, why);
			break;
		}
		ret = test_run(&c->o, frame, len, 1, &run, NULL, err);
		if (!ret)
			memcpy(out + (size_t)PFB_OUT_WORDS * i, run.out, sizeof(run.out));
	}
	return ret;
}

int pfb_run_frame(struct pfb_classifier *c, const __u8 *frame, __u32 len, int stateful,
		  struct pfb_run *run, struct pfb_err *err)
{
	int ret = runnable(c, "runFrame", err);

	if (!ret)
		ret = set_stateful(&c->o, stateful, err);
	if (!ret)
		ret = test_run(&c->o, frame, len, 1, run, NULL, err);
	return ret;
}

int pfb_time_frame(struct pfb_classifier *c, const __u8 *frame, __u32 len, __u32 repeat,
		   int stateful, __u32 *ns, struct pfb_err *err)
{
	int ret = runnable(c, "timePerPacket", err);

	if (!ret)
		ret = set_stateful(&c->o, stateful, err);
	if (!ret)
		ret = test_run(&c->o, frame, len, repeat, NULL, ns, err);
	return ret;
}

int pfb_reset_ct(struct pfb_classifier *c, struct pfb_err *err)
{
	struct pf_ct_key *keys = NULL, *grown;
	size_t n = 0, cap = 0, i;
	int ret = loaded(c, "resetConntrack", err);

	/* walk the keys first, then delete them: deleting under a walk would restart it */
	while (!ret) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			grown = realloc(keys, cap * sizeof(*keys));
			if (!grown) {
				ret = fail(err, -ENOMEM, "resetConntrack: %s", strerror(ENOMEM));
				break;
			}
			keys = grown;
		}
		if (bpf_map_get_next_key(c->o.ct_fd, n ? &keys[n - 1] : NULL, &keys[n])) {
			if (errno != ENOENT)
				ret = fail(err, -errno, "resetConntrack: walk: %s", strerror(errno));
			break;
		}
		n++;
	}
	for (i = 0; !ret && i < n; i++) {
		if (bpf_map_delete_elem(c->o.ct_fd, &keys[i]) && errno != ENOENT)
			ret = fail(err, -errno, "resetConntrack: delete: %s", strerror(errno));
	}
	free(keys);
	return ret;
}

/* --- policy updates: a delta applied to the loaded maps ------------------------------------ */

/* index of v in the ascending array sorted[0..n-1], or -1 */
static int find_u32(const __u32 *sorted, __u32 n, __u32 v)
{
	__u32 lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sorted[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && sorted[lo] == v ? (int)lo : -1;
}

static int check_delta_pods(const struct pfb_obj *o, const struct pfb_delta_args *a,
			    struct pfb_err *err)
{
	__u32 i, id, w;
	int ret = 0;

	for (i = 0; i < a->pod_count && !ret; i++) {
		id = a->pod_states[2 * i];
		w = a->pod_states[2 * i + 1];
		if (w == PFB_POD_DELETE)
			continue;
		if ((w & ~0xffffu) || (w & 0xff) > PF_STATE_ENFORCE ||
		    ((w >> 8) & 0xff) > PF_STATE_ENFORCE)
			ret = fail(err, -EINVAL,
				   "applyDelta: podStates[%u]: state must be ingress | egress << 8 with each 0 or 1",
				   2 * i + 1);
		else if (((w & 0xff) == PF_STATE_ENFORCE &&
			  (__u64)id * 2 + PF_DIR_INGRESS >= o->cap_tries) ||
			 (((w >> 8) & 0xff) == PF_STATE_ENFORCE &&
			  (__u64)id * 2 + PF_DIR_EGRESS >= o->cap_tries))
			ret = fail(err, -E2BIG,
				   "applyDelta: podStates[%u]: pod %u's tries are past the outer map's %u slots",
				   2 * i, id, o->cap_tries);
	}
	return ret;
}

static int check_delta_lpm(const struct pfb_obj *o, const struct pfb_delta_args *a,
			   struct pfb_err *err)
{
	struct { __u32 count, ext; } v;
	__u32 i, prefixlen;
	int ret = 0;

	for (i = 0; i < a->value_count && !ret; i++) {
		memcpy(&v, a->values + sizeof(struct pf_lpm_val) * (size_t)i, sizeof(v));
		if (v.count > PF_TC_VALUE_MAX_ENTRIES)
			ret = fail(err, -E2BIG,
				   "applyDelta: values[%u]: %u port entries exceed the tc program's %u",
				   i, v.count, PF_TC_VALUE_MAX_ENTRIES);
		else if (v.count > PF_VALUE_SLOTS &&
			 (__u64)v.ext + (v.count - PF_VALUE_SLOTS) > o->cap_ext)
			ret = fail(err, -EINVAL,
				   "applyDelta: values[%u]: extension entries past the pool's %u slots",
				   i, o->cap_ext);
	}
	for (i = 0; i < a->lpm_count && !ret; i++) {
		memcpy(&prefixlen, a->lpm_keys + sizeof(struct pf_lpm_key) * (size_t)i, 4);
		if (prefixlen > 128)
			ret = fail(err, -EINVAL, "applyDelta: lpmKeys[%u]: prefixlen over 128", i);
		else if (a->lpm_tries[i] >= o->cap_tries)
			ret = fail(err, -E2BIG,
				   "applyDelta: lpmTries[%u]: trie %u past the outer map's %u slots", i,
				   a->lpm_tries[i], o->cap_tries);
		else if (a->lpm_values[i] != PF_NO_ENTRY && a->lpm_values[i] >= a->value_count)
			ret = fail(err, -EINVAL,
				   "applyDelta: lpmValues[%u]: value index past the end of values", i);
		else if (i < a->lpm_fill &&
			 (a->lpm_values[i] == PF_NO_ENTRY ||
			  find_u32(a->new_tries, a->new_trie_count, a->lpm_tries[i]) < 0))
			ret = fail(err, -EINVAL,
				   "applyDelta: lpmTries[%u]: a fill operation must insert into a new trie",
				   i);
	}
	return ret;
}

/* the bounds of every index and count of a delta, before anything reaches the kernel */
static int check_delta(const struct pfb_obj *o, const struct pfb_delta_args *a,
		       struct pfb_err *err)
{
	__u32 i;
	int ret = 0;

	if (a->lpm_fill > a->lpm_count)
		ret = fail(err, -EINVAL, "applyDelta: lpmFill: %u exceeds the %u operations",
			   a->lpm_fill, a->lpm_count);
	for (i = 0; i < a->ext_count && !ret; i++)
		if (a->ext_slots[i] >= o->cap_ext)
			ret = fail(err, -E2BIG, "applyDelta: extSlots[%u]: slot %u past the pool's %u",
				   i, a->ext_slots[i], o->cap_ext);
	for (i = 0; i < a->new_trie_count && !ret; i++)
		if (a->new_tries[i] >= o->cap_tries || (i && a->new_tries[i] <= a->new_tries[i - 1]))
			ret = fail(err, -EINVAL,
				   "applyDelta: newTries[%u]: ids must ascend and stay below %u", i,
				   o->cap_tries);
	for (i = 0; i < a->gone_trie_count && !ret; i++)
		if (a->gone_tries[i] >= o->cap_tries)
			ret = fail(err, -EINVAL, "applyDelta: goneTries[%u]: id not below %u", i,
				   o->cap_tries);
	if (!ret)
		ret = check_delta_pods(o, a, err);
	if (!ret)
		ret = check_delta_lpm(o, a, err);
	return ret;
}

/* one insert, replace or delete of operation i of the delta on the trie fd */
static int lpm_op(int fd, const struct pfb_delta_args *a, __u32 i, struct pfb_err *err)
{
	const __u8 *key = a->lpm_keys + sizeof(struct pf_lpm_key) * (size_t)i;
	__u32 v = a->lpm_values[i];
	int r;

	if (v == PF_NO_ENTRY)
		r = bpf_map_delete_elem(fd, key);
	else
		r = bpf_map_update_elem(fd, key, a->values + sizeof(struct pf_lpm_val) * (size_t)v,
					BPF_ANY);
	if (r) {
		r = -errno;
		fail(err, r, "applyDelta: trie %u: %s of lpm operation %u: %s", a->lpm_tries[i],
		     v == PF_NO_ENTRY ? "delete" : "update", i, strerror(-r));
	}
	return r;
}

/* a descriptor of the trie at slot trie of the outer map (which holds map ids, not fds) */
static int inner_fd(const struct pfb_obj *o, __u32 trie, struct pfb_err *err)
{
	__u32 id;
	int fd, e;

	if (bpf_map_lookup_elem(o->tries_fd, &trie, &id)) {
		e = errno;
		return fail(err, -e, "applyDelta: tries[%u]: %s", trie,
			    e == ENOENT ? "no trie there" : strerror(e));
	}
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0) {
		e = errno;
		return fail(err, -e, "applyDelta: tries[%u]: open map id %u: %s", trie, id,
			    strerror(e));
	}
	return fd;
}

static int apply_pods(const struct pfb_obj *o, const struct pfb_delta_args *a, __u32 *n,
		      struct pfb_err *err)
{
	struct pf_pod_state st;
	const __u8 *addr;
	__u32 i, w;
	int r = 0;

	for (i = 0; i < a->pod_count && !r; i++) {
		addr = a->pod_addrs + 16 * (size_t)i;
		w = a->pod_states[2 * i + 1];
		if (w == PFB_POD_DELETE) {
			r = bpf_map_delete_elem(o->pods_fd, addr);
		} else {
			memset(&st, 0, sizeof(st));
			st.pod_id = a->pod_states[2 * i];
			st.ingress = w & 0xff;
			st.egress = (w >> 8) & 0xff;
			r = bpf_map_update_elem(o->pods_fd, addr, &st, BPF_ANY);
		}
		if (r) {
			r = -errno;
			fail(err, r, "applyDelta: pod_state %s of podAddrs[%u]: %s",
			     w == PFB_POD_DELETE ? "delete" : "update", i, strerror(-r));
		} else {
			(*n)++;
		}
	}
	return r;
}

/* new tries: made and filled before the outer map makes them reachable */
static int apply_new_tries(const struct pfb_obj *o, const struct pfb_delta_args *a, int *fds,
			   __u32 *n, struct pfb_err *err)
{
	__u32 i;
	int r = 0;

	for (i = 0; i < a->new_trie_count && !r; i++) {
		fds[i] = trie_create(o->cap_trie_entries);
		if (fds[i] < 0) {
			r = -errno;
			fail(err, r, "applyDelta: create trie %u: %s", a->new_tries[i], strerror(-r));
		}
	}
	for (i = 0; i < a->lpm_fill && !r; i++) {
		r = lpm_op(fds[find_u32(a->new_tries, a->new_trie_count, a->lpm_tries[i])], a, i,
			   err);
		if (!r)
			(*n)++;
	}
	for (i = 0; i < a->new_trie_count && !r; i++) {
		/* map-in-map arrays take BPF_ANY only; the caller made sure the slot is empty */
		if (bpf_map_update_elem(o->tries_fd, &a->new_tries[i], &fds[i], BPF_ANY)) {
			r = -errno;
			fail(err, r, "applyDelta: tries[%u]: %s", a->new_tries[i], strerror(-r));
		} else {
			(*n)++;
		}
	}
	return r;
}

/* the other lpm operations: one inner descriptor per run of operations on the same trie */
static int apply_lpm(const struct pfb_obj *o, const struct pfb_delta_args *a, __u32 *n,
		     struct pfb_err *err)
{
	__u32 i, cur = PF_NO_ENTRY;
	int fd = -1, r = 0;

	for (i = a->lpm_fill; i < a->lpm_count && !r; i++) {
		if (a->lpm_tries[i] != cur) {
			if (fd >= 0)
				close(fd);
			cur = a->lpm_tries[i];
			fd = inner_fd(o, cur, err);
			if (fd < 0) {
				r = fd;
				break;
			}
		}
		r = lpm_op(fd, a, i, err);
		if (!r)
			(*n)++;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int pfb_apply_delta(struct pfb_classifier *c, const struct pfb_delta_args *a, __u32 *ops,
		    struct pfb_err *err)
{
	const struct pfb_obj *o = &c->o;
	int *fds = NULL, ret;
	__u32 i, n = 0;

	ret = loaded(c, "applyDelta", err);
	if (!ret)
		ret = check_delta(o, a, err);
	if (ret)
		goto cleanup;
	fds = malloc(sizeof(*fds) * (a->new_trie_count ? a->new_trie_count : 1));
	if (!fds) {
		ret = fail(err, -ENOMEM, "applyDelta: %s", strerror(ENOMEM));
		goto cleanup;
	}
	for (i = 0; i < a->new_trie_count; i++)
		fds[i] = -1;
	/* extension slots first: no value points at the new ones yet */
	for (i = 0; i < a->ext_count && !ret; i++) {
		if (bpf_map_update_elem(o->ext_fd, &a->ext_slots[i], a->ext + 8 * (size_t)i,
					BPF_ANY)) {
			ret = -errno;
			fail(err, ret, "applyDelta: ports_ext[%u]: %s", a->ext_slots[i],
			     strerror(-ret));
		} else {
			n++;
		}
	}
	if (!ret)
		ret = apply_new_tries(o, a, fds, &n, err);
	/* a pod enforces a side only once its trie is complete, and stops before it goes */
	if (!ret)
		ret = apply_pods(o, a, &n, err);
	if (!ret)
		ret = apply_lpm(o, a, &n, err);
	for (i = 0; i < a->gone_trie_count && !ret; i++) {
		if (bpf_map_delete_elem(o->tries_fd, &a->gone_tries[i])) {
			ret = -errno;
			fail(err, ret, "applyDelta: delete tries[%u]: %s", a->gone_tries[i],
			     strerror(-ret));
		} else {
			n++;
		}
	}
cleanup:
	/* the outer map holds its own reference to each new trie */
	for (i = 0; fds && i < a->new_trie_count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	*ops = n;
	return ret;
}

/* makes room for one more record of size rec in *buf (holding *count records) */
static int grow(__u8 **buf, __u32 count, size_t *cap, size_t rec)
{
	__u8 *p;
	size_t want;

	if ((size_t)(count + 1) * rec <= *cap)
		return 0;
	want = *cap ? 2 * *cap : 64 * rec;
	p = realloc(*buf, want);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = want;
	return 0;
}

static int dump_pods(const struct pfb_obj *o, struct pfb_dump *d, struct pfb_err *err)
{
	struct pf_pod_key key;
	size_t cap = 0, rec = sizeof(key) + sizeof(struct pf_pod_state);
	__u8 *at;
	int ret = 0;

	while (!ret) {
		if (bpf_map_get_next_key(o->pods_fd, d->pod_count ? d->pods + rec * (d->pod_count - 1) : NULL,
					 &key)) {
			if (errno != ENOENT)
				ret = fail(err, -errno, "dump: pod_state walk: %s", strerror(errno));
			break;
		}
		if (grow(&d->pods, d->pod_count, &cap, rec)) {
			ret = fail(err, -ENOMEM, "dump: %s", strerror(ENOMEM));
			break;
		}
		at = d->pods + rec * d->pod_count;
		memcpy(at, &key, sizeof(key));
		if (bpf_map_lookup_elem(o->pods_fd, &key, at + sizeof(key)))
			ret = fail(err, -errno, "dump: pod_state lookup: %s", strerror(errno));
		else
			d->pod_count++;
	}
	return ret;
}

/* every entry of the trie at slot trie, appended to d->entries */
static int dump_trie(int fd, __u32 trie, struct pfb_dump *d, size_t *cap, struct pfb_err *err)
{
	const size_t rec = PFB_DUMP_ENTRY_BYTES;
	struct pf_lpm_key key, prev;
	__u8 *at;
	int ret = 0, first = 1;

	while (!ret) {
		if (bpf_map_get_next_key(fd, first ? NULL : &prev, &key)) {
			if (errno != ENOENT)
				ret = fail(err, -errno, "dump: trie %u walk: %s", trie, strerror(errno));
			break;
		}
		first = 0;
		prev = key;
		if (grow(&d->entries, d->entry_count, cap, rec)) {
			ret = fail(err, -ENOMEM, "dump: %s", strerror(ENOMEM));
			break;
		}
		at = d->entries + rec * d->entry_count;
		memcpy(at, &trie, 4);
		memcpy(at + 4, &key, sizeof(key));
		if (bpf_map_lookup_elem(fd, &key, at + 4 + sizeof(key)))
			ret = fail(err, -errno, "dump: trie %u lookup: %s", trie, strerror(errno));
		else
			d->entry_count++;
	}
	return ret;
}

static int dump_tries(const struct pfb_obj *o, struct pfb_dump *d, struct pfb_err *err)
{
	size_t cap = 0, tcap = 0;
	__u32 t, id;
	int fd, ret = 0;

	for (t = 0; t < o->cap_tries && !ret; t++) {
		if (bpf_map_lookup_elem(o->tries_fd, &t, &id)) {
			if (errno != ENOENT)
				ret = fail(err, -errno, "dump: tries[%u]: %s", t, strerror(errno));
			continue;
		}
		if (grow((__u8 **)&d->tries, d->trie_count, &tcap, sizeof(__u32))) {
			ret = fail(err, -ENOMEM, "dump: %s", strerror(ENOMEM));
			break;
		}
		d->tries[d->trie_count++] = t;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0) {
			ret = fail(err, -errno, "dump: tries[%u]: open map id %u: %s", t, id,
				   strerror(errno));
			break;
		}
		ret = dump_trie(fd, t, d, &cap, err);
		close(fd);
	}
	return ret;
}

int pfb_dump(struct pfb_classifier *c, struct pfb_dump *d, struct pfb_err *err)
{
	const struct pfb_obj *o = &c->o;
	__u32 i;
	int ret;

	memset(d, 0, sizeof(*d));
	ret = loaded(c, "dump", err);
	if (!ret)
		ret = dump_pods(o, d, err);
	if (!ret)
		ret = dump_tries(o, d, err);
	if (!ret) {
		d->ext = calloc(o->cap_ext, sizeof(struct pf_port_entry));
		if (!d->ext)
			ret = fail(err, -ENOMEM, "dump: %s", strerror(ENOMEM));
	}
	for (i = 0; !ret && i < o->cap_ext; i++) {
		if (bpf_map_lookup_elem(o->ext_fd, &i, d->ext + sizeof(struct pf_port_entry) * (size_t)i))
			ret = fail(err, -errno, "dump: ports_ext[%u]: %s", i, strerror(errno));
		else
			d->ext_count++;
	}
	if (ret)
		pfb_dump_free(d);
	return ret;
}

void pfb_dump_free(struct pfb_dump *d)
{
	free(d->pods);
	free(d->tries);
	free(d->entries);
	free(d->ext);
	memset(d, 0, sizeof(*d));
}

/* --- attach mode: the two programs on tc hooks of a namespace's interfaces ------------------- */

int pfb_set_attach_mode(struct pfb_classifier *c, int on, struct pfb_err *err)
{
	if (c->o.obj)
		return fail(err, -EBUSY, "bpf: attach mode must be chosen before the first load");
	c->attach_mode = on ? 1 : 0;
	return 0;
}

int pfb_set_stateful(struct pfb_classifier *c, int stateful, struct pfb_err *err)
{
	int ret = loaded(c, "setStateful", err);

	if (!ret)
		ret = set_stateful(&c->o, stateful, err);
	return ret;
}

/* one attach or detach, run in a thread of its own that enters the namespace */
struct ns_job {
	const char *netns;
	int detach;
	const char *ifname[2];	/* attach: the interface names */
	int prog_fd[2];
	int ifindex[2];		/* attach: found; detach: given */
	int ret;
	struct pfb_err *err;
};

static int hook_of(int ifindex, enum bpf_tc_attach_point point, struct bpf_tc_hook *h)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->ifindex = ifindex;
	h->attach_point = point;
	return 0;
}

/* removes the clsact qdisc of ifindex (both its hooks, with whatever is attached there) */
static int hook_destroy(int ifindex)
{
	struct bpf_tc_hook h;

	hook_of(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS, &h);
	return bpf_tc_hook_destroy(&h);
}

static void ns_work(struct ns_job *j)
{
	static const enum bpf_tc_attach_point points[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	struct bpf_tc_hook h;
	struct bpf_tc_opts opts;
	int i, r, made[2] = { 0, 0 };

	if (j->detach) {
		for (i = 0; i < 2; i++) {
			r = hook_destroy(j->ifindex[i]);
			/* a link or qdisc already gone is detached enough */
			if (r && r != -ENOENT && r != -ENODEV && r != -EINVAL && !j->ret)
				j->ret = fail(j->err, r, "bpf detach: tc hook destroy ifindex %d: %s",
					      j->ifindex[i], strerror(-r));
		}
		return;
	}
	for (i = 0; i < 2; i++) {
		j->ifindex[i] = (int)if_nametoindex(j->ifname[i]);
		if (!j->ifindex[i]) {
			j->ret = fail(j->err, -errno, "bpf attach: interface %s in %s: %s",
				      j->ifname[i], j->netns, strerror(errno));
			goto undo;
		}
		hook_of(j->ifindex[i], points[i], &h);
		r = bpf_tc_hook_create(&h);
		if (r && r != -EEXIST) {
			j->ret = fail(j->err, r, "bpf attach: clsact on %s: %s", j->ifname[i],
				      strerror(-r));
			goto undo;
		}
		made[i] = 1;
		memset(&opts, 0, sizeof(opts));
		opts.sz = sizeof(opts);
		opts.prog_fd = j->prog_fd[i];
		opts.handle = 1;
		opts.priority = 1;
		r = bpf_tc_attach(&h, &opts);
		if (r) {
			j->ret = fail(j->err, r, "bpf attach: %s %s hook: %s", j->ifname[i],
				      i ? "egress" : "ingress", strerror(-r));
			goto undo;
		}
	}
	return;
undo:
	for (i = 0; i < 2; i++)
		if (made[i])
			hook_destroy(j->ifindex[i]);
}

/*
 * the thread: enter the namespace, work, go back. setns() moves only the calling thread, so
 * no other thread of the process ever runs in the namespace; the thread ends right after.
 */
static void *ns_thread(void *arg)
{
	struct ns_job *j = arg;
	int self, target;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		j->ret = fail(j->err, -errno, "bpf %s: open own netns: %s",
			      j->detach ? "detach" : "attach", strerror(errno));
		return NULL;
	}
	target = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (target < 0) {
		j->ret = -errno;
		if (!(j->detach && errno == ENOENT))
			fail(j->err, j->ret, "bpf %s: open %s: %s", j->detach ? "detach" : "attach",
			     j->netns, strerror(errno));
		else
			j->ret = 0;	/* the namespace is gone, and the hooks with it */
		close(self);
		return NULL;
	}
	if (setns(target, CLONE_NEWNET)) {
		j->ret = fail(j->err, -errno, "bpf %s: setns %s: %s", j->detach ? "detach" : "attach",
			      j->netns, strerror(errno));
	} else {
		ns_work(j);
		if (setns(self, CLONE_NEWNET) && !j->ret)
			j->ret = fail(j->err, -errno, "bpf: setns back: %s", strerror(errno));
	}
	close(target);
	close(self);
	return NULL;
}

static int run_job(struct ns_job *j)
{
	pthread_t t;
	int r;

	r = pthread_create(&t, NULL, ns_thread, j);
	if (r)
		return fail(j->err, -r, "bpf: thread for setns: %s", strerror(r));
	pthread_join(t, NULL);
	return j->ret;
}

int pfb_attach(struct pfb_classifier *c, const char *netns_path, const char *from_if,
	       const char *to_if, struct pfb_err *err)
{
	struct ns_job j;
	int ret = loaded(c, "attach", err);

	if (!ret && !c->attach_mode)
		ret = fail(err, -EINVAL, "attach: the classifier is not in attach mode");
	if (!ret && c->at.attached)
		ret = fail(err, -EBUSY, "attach: already attached (detach first)");
	if (!ret && strlen(netns_path) >= sizeof(c->at.netns))
		ret = fail(err, -ENAMETOOLONG, "attach: netns path too long");
	if (ret)
		return ret;
	memset(&j, 0, sizeof(j));
	j.netns = netns_path;
	j.ifname[0] = from_if;
	j.ifname[1] = to_if;
	j.prog_fd[0] = c->o.from_fd;
	j.prog_fd[1] = c->o.to_fd;
	j.err = err;
	ret = run_job(&j);
	if (!ret) {
		c->at.attached = 1;
		snprintf(c->at.netns, sizeof(c->at.netns), "%s", netns_path);
		c->at.ifindex[0] = j.ifindex[0];
		c->at.ifindex[1] = j.ifindex[1];
	}
	return ret;
}

int pfb_detach(struct pfb_classifier *c, struct pfb_err *err)
{
	struct ns_job j;
	int ret;

	if (!c->at.attached)
		return 0;
	memset(&j, 0, sizeof(j));
	j.netns = c->at.netns;
	j.detach = 1;
	j.ifindex[0] = c->at.ifindex[0];
	j.ifindex[1] = c->at.ifindex[1];
	j.err = err;
	ret = run_job(&j);
	/* on failure too: the hooks die with the namespace, and a retry could hit another link */
	memset(&c->at, 0, sizeof(c->at));
	return ret;
}
