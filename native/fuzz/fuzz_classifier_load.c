// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_classifier_load.c - libFuzzer target for the classifier's load validation,
 * pfs_classifier_load() (native/src/classifier.c): arbitrary layouts (pod states, trie ids,
 * LPM keys, values with counts and extension offsets, the extension pool) as the addon
 * would pass them after checking only the array lengths, then packets judged against
 * whatever loaded.
 *
 * Input: counts and a mode byte, then the arrays' bytes, then 40-byte packet records. In
 * "shaped" mode (mode bit 0 clear) fields are bent towards valid ranges (small pod ids, states
 * 0 or 1, prefix lengths near 128, value counts around the inline slots) so that loads get
 * past the first check and reach the later ones; otherwise every field is raw.
 * Checked besides memory safety and UB: a refused load names an argument and a reason and
 * leaves the previous layout in force (its verdicts unchanged); an accepted one judges every
 * packet with a known verdict and reason, stateless and stateful.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "fuzz_input.h"

#define OUT_WORDS 4
#define MAX_PKTS 64u

static struct pfs_classifier *cls;
static struct pf_load_arrays base;

/* the layout in force between inputs: pod ::ffff:10.0.0.1 admits TCP 80 from 10.0.0.0/8 */
static const uint8_t base_pod[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 };
static const uint32_t base_states[2] = { 0, PF_STATE_ENFORCE };
static uint8_t base_key[20];
static const uint32_t base_tries[1] = { 0 };
static const uint32_t base_vals[1] = { 0 };
static struct pf_lpm_val base_value;

static struct pf_pkt probes[3];
static uint32_t probe_out[3 * OUT_WORDS];

static void probe(struct pf_pkt *p, uint8_t src_last, uint16_t dport)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->daddr, base_pod, 16);
	memcpy(p->saddr, base_pod, 16);
	p->saddr[15] = src_last;
	p->dport = dport;
	p->sport = 40000;
	p->proto = 6;
	p->family = 4;
	p->flags = PF_PKT_F_SYN;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pfs_load_err err;
	uint32_t plen = 104;

	(void)argc;
	(void)argv;
	memcpy(base_key, &plen, 4);
	memcpy(base_key + 4, base_pod, 16);
	base_value.count = 1;
	base_value.e[0].proto = 6;
	base_value.e[0].start = 80;
	base_value.e[0].end = 80;
	base.pod_addrs = base_pod;
	base.pod_states = base_states;
	base.pod_count = 1;
	base.trie_count = 2;
	base.entry_keys = base_key;
	base.entry_tries = base_tries;
	base.entry_values = base_vals;
	base.entry_count = 1;
	base.values = (const uint8_t *)&base_value;
	base.value_count = 1;
	base.ext = (const uint8_t *)&base_value;	/* unused: ext_count 0 */
	base.ext_count = 0;
	FZ_CHECK(pfs_classifier_new(256, &cls) == 0, "pfs_classifier_new");
	FZ_CHECK(pfs_classifier_load(cls, &base, &err) == 0, "base layout: %s", err.what);
	probe(&probes[0], 2, 80);
	probe(&probes[1], 2, 81);
	probe(&probes[2], 1, 80);
	pfs_classify_batch(cls, probes, 3, probe_out, 0);
	FZ_CHECK(probe_out[0] == PF_VERDICT_ALLOW && probe_out[OUT_WORDS] == PF_VERDICT_DENY,
		 "base layout verdicts %u %u", probe_out[0], probe_out[OUT_WORDS]);
	return 0;
}

struct layout {
	uint8_t *pod_addrs;
	uint32_t *pod_states;
	uint8_t *entry_keys;
	uint32_t *entry_tries;
	uint32_t *entry_values;
	struct pf_lpm_val *values;
	struct pf_port_entry *ext;
};

static void *alloc(size_t n, size_t size)
{
	/* at least one byte, so an empty array is still a real (and checked) allocation */
	void *p = calloc(n ? n : 1, size);

	FZ_CHECK(p, "out of memory");
	return p;
}

static void fill(struct fz_in *in, struct pf_load_arrays *a, struct layout *l, int raw)
{
	uint32_t i, v;

	l->pod_addrs = alloc(a->pod_count, 16);
	l->pod_states = alloc(a->pod_count, 8);
	l->entry_keys = alloc(a->entry_count, 20);
	l->entry_tries = alloc(a->entry_count, 4);
	l->entry_values = alloc(a->entry_count, 4);
	l->values = alloc(a->value_count, sizeof(struct pf_lpm_val));
	l->ext = alloc(a->ext_count, sizeof(struct pf_port_entry));
	for (i = 0; i < a->pod_count; i++) {
		fz_bytes(in, l->pod_addrs + 16 * i, 16);
		l->pod_states[2 * i] = raw ? fz_u32(in) : fz_u8(in) % 40;
		v = fz_u8(in);
		l->pod_states[2 * i + 1] = raw ? fz_u32(in) : (v & 3) | (v >> 2 & 3) << 8;
	}
	for (i = 0; i < a->entry_count; i++) {
		v = raw ? fz_u32(in) : 90 + fz_u8(in) % 45;
		memcpy(l->entry_keys + 20 * i, &v, 4);
		fz_bytes(in, l->entry_keys + 20 * i + 4, 16);
		l->entry_tries[i] = raw ? fz_u32(in) : fz_u8(in) % (a->trie_count + 2);
		l->entry_values[i] = raw ? fz_u32(in) : fz_u8(in) % (a->value_count + 1);
	}
	for (i = 0; i < a->value_count; i++) {
		fz_bytes(in, &l->values[i], sizeof(l->values[i]));
		if (!raw) {
			l->values[i].count %= 2 * PF_VALUE_SLOTS + 8;
			l->values[i].ext %= a->ext_count + 4;
		}
	}
	fz_bytes(in, l->ext, sizeof(struct pf_port_entry) * a->ext_count);
	a->pod_addrs = l->pod_addrs;
	a->pod_states = l->pod_states;
	a->entry_keys = l->entry_keys;
	a->entry_tries = l->entry_tries;
	a->entry_values = l->entry_values;
	a->values = (const uint8_t *)l->values;
	a->ext = (const uint8_t *)l->ext;
}

static void layout_free(struct layout *l)
{
	free(l->pod_addrs);
	free(l->pod_states);
	free(l->entry_keys);
	free(l->entry_tries);
	free(l->entry_values);
	free(l->values);
	free(l->ext);
}

/* packets that reach the loaded pods and keys more often than random bytes would */
static uint32_t packets(struct fz_in *in, const struct pf_load_arrays *a, struct pf_pkt *p)
{
	uint32_t n = 0;
	uint8_t s;

	while (fz_left(in) >= 41 && n < MAX_PKTS) {
		s = fz_u8(in);
		fz_bytes(in, &p[n], sizeof(p[n]));
		if ((s & 1) && a->pod_count)
			memcpy(p[n].saddr, a->pod_addrs + 16 * ((s >> 1) % a->pod_count), 16);
		if ((s & 0x10) && a->pod_count)
			memcpy(p[n].daddr, a->pod_addrs + 16 * ((s >> 5) % a->pod_count), 16);
		if ((s & 0x08) && a->entry_count)
			memcpy(p[n].saddr, a->entry_keys + 4 + 20 * ((s >> 5) % a->entry_count), 16);
		n++;
	}
	return n;
}

static void check_out(const uint32_t *out, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		FZ_CHECK(out[OUT_WORDS * i] == PF_VERDICT_ALLOW ||
			 out[OUT_WORDS * i] == PF_VERDICT_DENY, "verdict %u", out[OUT_WORDS * i]);
		FZ_CHECK(out[OUT_WORDS * i + 1] >= PF_REASON_ESTABLISHED &&
			 out[OUT_WORDS * i + 1] <= PF_REASON_DENY_INGRESS, "reason %u",
			 out[OUT_WORDS * i + 1]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct pf_pkt pkts[MAX_PKTS];
	static uint32_t out[MAX_PKTS * OUT_WORDS], again[3 * OUT_WORDS];
	struct fz_in in = { data, len };
	struct pf_load_arrays a;
	struct pfs_load_err err;
	struct layout l;
	uint32_t mode, n, t;
	int ret;

	memset(&a, 0, sizeof(a));
	mode = fz_u8(&in);
	a.pod_count = fz_u8(&in) % 32;
	t = fz_u8(&in);
	a.trie_count = t == 255 ? PFS_MAX_TRIES + 1 : t % 80;
	a.entry_count = fz_u8(&in) % 64;
	a.value_count = fz_u8(&in) % 16;
	a.ext_count = fz_u8(&in) % 64;
	fill(&in, &a, &l, mode & 1);
	n = packets(&in, &a, pkts);

	memset(&err, 0, sizeof(err));
	ret = pfs_classifier_load(cls, &a, &err);
	FZ_CHECK(ret == 0 || ret == -EINVAL, "load returned %d", ret);
	if (ret) {
		FZ_CHECK(err.arg && *err.arg && err.what && *err.what, "a refusal without a reason");
		pfs_classify_batch(cls, probes, 3, again, 0);
		FZ_CHECK(!memcmp(again, probe_out, sizeof(again)),
			 "a refused load (%s: %s) changed the layout in force", err.arg, err.what);
		goto out;
	}
	pfs_classify_batch(cls, pkts, n, out, 0);
	check_out(out, n);
	pfs_classify_batch(cls, pkts, n, out, 1);
	check_out(out, n);
	pfs_classifier_reset_ct(cls);
	FZ_CHECK(pfs_classifier_load(cls, &base, &err) == 0, "reloading the base layout");
out:
	layout_free(&l);
	return 0;
}
