// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_lpm.c - libFuzzer target for the LPM build and lookup (native/src/lpm.c, lpm.h):
 * pfs_lpm_build() over arbitrary keys, then lookups through both ways the classifier makes
 * them (pfs_lpm_find() and the batched cursor pfs_lpm_begin/step_root/step), each compared
 * with a brute-force longest-prefix match over the same keys (the later of two equal
 * prefixes wins, as a map update would).
 *
 * Input: a header `flags (1), generated keys (2), seed (4), cluster prefix (1)`, then keys of
 * 22 bytes each `form (1), prefixlen (1), value (4), address (16)`, then addresses to look
 * up (17 bytes each: form and address). A key's form picks IPv4-mapped (::ffff:a.b.c.d) or
 * plain IPv6, so both halves of the tables get keys. Generated keys (up to 1023, from the seed,
 * inside the cluster prefix) give the large spans that need blocks, indexes and tables.
 * Looked up: the given addresses and, for a sample of keys, each key's first and last address
 * and the addresses just outside them. flags bit 0 gives one key a value index of
 * PFS_V4_REF, which the build must refuse.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "lpm.h"

#define MAX_GEN 1023u
#define MAX_LOOKUPS 512u

struct key {
	pfs_u128 start;
	pfs_u128 end;
	uint32_t len;
	uint32_t value;
};

static pfs_u128 addr_u128(const uint8_t *a)
{
	pfs_u128 v = 0;
	int i;

	for (i = 0; i < 16; i++)
		v = v << 8 | a[i];
	return v;
}

static void u128_addr(pfs_u128 v, uint8_t *a)
{
	int i;

	for (i = 15; i >= 0; i--) {
		a[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* an address of the given form: IPv4-mapped keeps only the last four bytes */
static void shape(uint8_t form, uint8_t *a)
{
	if (form & 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
	}
}

static struct pfs_lpm_hit brute(const struct key *k, uint32_t n, pfs_u128 a)
{
	struct pfs_lpm_hit h = { PF_NO_ENTRY, PF_NO_ENTRY };
	uint32_t i, best = 0;

	for (i = 0; i < n; i++) {
		if (a < k[i].start || a > k[i].end)
			continue;
		if (h.entry == PF_NO_ENTRY || k[i].len >= best) {
			best = k[i].len;
			h.entry = i;
			h.value = k[i].value;
		}
	}
	return h;
}

/* the classifier's batched walk for one address */
static struct pfs_lpm_hit walk(const struct pfs_lpm *t, const uint8_t *addr)
{
	struct pfs_lpm_cursor c;
	int level;

	if (pfs_lpm_begin(t, addr, &c))
		return c.hit;
	if (pfs_lpm_step_root(&c))
		return c.hit;
	for (level = 0; level < 64; level++) {
		if (pfs_lpm_step(&c))
			return c.hit;
	}
	FZ_CHECK(0, "the cursor walk did not end in 64 steps");
	return c.hit;
}

static void lookup(const struct pfs_lpm *t, const struct key *k, uint32_t n, pfs_u128 a)
{
	struct pfs_lpm_hit want = brute(k, n, a), got, walked;
	uint8_t addr[16];

	u128_addr(a, addr);
	got = pfs_lpm_find(t, addr);
	walked = walk(t, addr);
	FZ_CHECK(got.entry == want.entry && got.value == want.value,
		 "find %016llx%016llx: entry %u value %u, brute force: entry %u value %u",
		 (unsigned long long)(a >> 64), (unsigned long long)a, got.entry, got.value,
		 want.entry, want.value);
	FZ_CHECK(walked.entry == want.entry && walked.value == want.value,
		 "walk %016llx%016llx: entry %u value %u, brute force: entry %u value %u",
		 (unsigned long long)(a >> 64), (unsigned long long)a, walked.entry, walked.value,
		 want.entry, want.value);
}

static void key_of(struct key *k, const struct pfs_lpm_input *in)
{
	pfs_u128 mask = in->prefixlen ? ~(pfs_u128)0 << (128 - in->prefixlen) : 0;

	k->start = addr_u128(in->addr) & mask;
	k->end = k->start | ~mask;
	k->len = in->prefixlen;
	k->value = in->value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fz_in in = { data, len };
	struct pfs_lpm_input *keys;
	struct key *k;
	struct pfs_lpm t;
	uint32_t flags, ngen, nexp, n, i, cl, nl = 0;
	uint8_t form, a[16], base[16];
	struct fz_rng rng;
	pfs_u128 x;
	int ret;

	flags = fz_u8(&in);
	ngen = fz_u16(&in) % (MAX_GEN + 1);
	fz_rng_seed(&rng, fz_u32(&in));
	cl = fz_u8(&in) % 129;
	nexp = (uint32_t)(fz_left(&in) / 22 < 256 ? fz_left(&in) / 22 : 256);
	n = ngen + nexp;
	keys = calloc(n ? n : 1, sizeof(*keys));
	k = calloc(n ? n : 1, sizeof(*k));
	FZ_CHECK(keys && k, "out of memory");

	for (i = 0; i < nexp; i++) {
		form = fz_u8(&in);
		keys[i].prefixlen = fz_u8(&in) % 129;
		keys[i].value = fz_u32(&in) % 1000000u;
		fz_bytes(&in, keys[i].addr, 16);
		shape(form, keys[i].addr);
		if ((form & 1) && keys[i].prefixlen < 96)
			keys[i].prefixlen = 96 + keys[i].prefixlen % 33;
	}
	/* generated keys: inside the cluster prefix of the first key (or of ::ffff:0:0/96) */
	memset(base, 0, sizeof(base));
	base[10] = base[11] = 0xff;
	if (nexp)
		memcpy(base, keys[0].addr, 16);
	for (i = nexp; i < n; i++) {
		uint32_t r[4] = { fz_rng_next(&rng), fz_rng_next(&rng), fz_rng_next(&rng),
				  fz_rng_next(&rng) };
		pfs_u128 m = cl ? ~(pfs_u128)0 << (128 - cl) : 0;
		pfs_u128 rv = (pfs_u128)r[0] << 96 | (pfs_u128)r[1] << 64 | (pfs_u128)r[2] << 32 | r[3];

		u128_addr((addr_u128(base) & m) | (rv & ~m), keys[i].addr);
		keys[i].prefixlen = cl + fz_rng_next(&rng) % (129 - cl);
		keys[i].value = fz_rng_next(&rng) % 64;
	}
	for (i = 0; i < n; i++) {
		keys[i].entry = i;
		key_of(&k[i], &keys[i]);
	}
	if ((flags & 1) && n) {
		keys[n / 2].value = PFS_V4_REF;
		ret = pfs_lpm_build(&t, keys, n);
		FZ_CHECK(ret == -EINVAL, "a value index of PFS_V4_REF built: %d", ret);
		goto out;
	}
	ret = pfs_lpm_build(&t, keys, n);
	FZ_CHECK(ret == 0, "pfs_lpm_build: %d", ret);

	/* boundaries of a sample of keys, then the given addresses */
	for (i = 0; i < n && nl < MAX_LOOKUPS; i += 1 + n / 64) {
		lookup(&t, k, n, k[i].start);
		lookup(&t, k, n, k[i].end);
		lookup(&t, k, n, k[i].start - 1);
		lookup(&t, k, n, k[i].end + 1);
		nl += 4;
	}
	while (fz_left(&in) >= 17 && nl++ < MAX_LOOKUPS) {
		form = fz_u8(&in);
		fz_bytes(&in, a, 16);
		shape(form, a);
		x = addr_u128(a);
		lookup(&t, k, n, x);
	}
	pfs_lpm_free(&t);
out:
	free(k);
	free(keys);
	return 0;
}
