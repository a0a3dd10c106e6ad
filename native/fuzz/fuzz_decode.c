// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_decode.c - libFuzzer target for the single-packet parse path, pfc_decode_view()
 * (native/src/capture/decode.c, the call pfc_parse makes): captured frames of every link type
 * into struct pf_pkt and the fixed-offset view (struct pfc_fixed_view).
 *
 * Input: a sequence of frames, each `link selector (1 byte), length (2 bytes, little-endian),
 * bytes`; the selector picks one of the link types the decoder knows (or, for the last value,
 * takes the link type from two more bytes). The frames share one fragment table, so first
 * and later fragments meet. Each frame is copied to a buffer of exactly its length so that a
 * read past the captured bytes is caught. Checked besides memory safety and UB: a known status;
 * a skipped frame leaves an all-zero record and view; a decoded one has family 4 (as
 * ::ffff:a.b.c.d) or 6, ports only for TCP, UDP and SCTP, TCP flags only for TCP and only the
 * four kept bits; a view has ports only when it was taken, for TCP, UDP or SCTP, and fit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fuzz_input.h"

static const uint32_t link_types[] = {
	PFC_LT_NULL, PFC_LT_ETHERNET, PFC_LT_RAW_12, PFC_LT_RAW_14, PFC_LT_RAW, PFC_LT_LOOP,
	PFC_LT_LINUX_SLL, PFC_LT_IPV4, PFC_LT_IPV6, PFC_LT_LINUX_SLL2,
};
#define N_LINK_TYPES (sizeof(link_types) / sizeof(link_types[0]))

static void check_view(uint32_t st, const struct pfc_fixed_view *v)
{
	uint32_t proto = v->info & PFC_VIEW_PROTO_MASK;

	if (st != PFC_OK) {
		FZ_CHECK(!v->ports && !v->info, "skipped (%u) with a view", st);
		return;
	}
	if (v->ports) {
		FZ_CHECK(v->info & PFC_VIEW_VALID, "ports in a view not taken");
		FZ_CHECK(proto == 6 || proto == 17 || proto == 132, "view ports for protocol %u", proto);
		FZ_CHECK(!(v->info & PFC_VIEW_SHORT), "view ports past the datagram");
	}
}

static void check_record(uint32_t st, const struct pf_pkt *o)
{
	static const struct pf_pkt zero;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	FZ_CHECK(st < PFC_STATUS_COUNT, "status %u", st);
	if (st != PFC_OK) {
		FZ_CHECK(!memcmp(o, &zero, sizeof(zero)), "skipped (%u) with a record", st);
		return;
	}
	FZ_CHECK(o->family == 4 || o->family == 6, "family %u", o->family);
	if (o->family == 4)
		FZ_CHECK(!memcmp(o->saddr, mapped, 12) && !memcmp(o->daddr, mapped, 12),
			 "IPv4 addresses not IPv4-mapped");
	if (o->proto != 6 && o->proto != 17 && o->proto != 132)
		FZ_CHECK(!o->sport && !o->dport, "ports for protocol %u", o->proto);
	FZ_CHECK(!(o->flags & ~PF_PKT_F_TCP), "flags 0x%02x", o->flags);
	FZ_CHECK(o->proto == 6 || !o->flags, "flags for protocol %u", o->proto);
	FZ_CHECK(!o->pad, "pad byte set");
}

#ifdef PFSIM_FUZZ_SELFTEST
/* a planted heap overflow, for the test that checks scripts/fuzz.sh reports a finding */
static void selftest(const uint8_t *data, size_t len)
{
	volatile uint8_t *p;

	if (len < 1 || data[0] != 'P')
		return;
	p = malloc(2);
	p[2] = 1;
	free((void *)p);
}
#else
static void selftest(const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fz_in in = { data, len };
	struct pfc_fragtab *ft;
	struct pfc_fixed_view v;
	struct pf_pkt o;
	uint32_t lt, n, st;
	uint8_t sel, *frame;

	selftest(data, len);
	ft = calloc(1, sizeof(*ft));
	FZ_CHECK(ft, "out of memory");
	while (fz_left(&in) >= 3) {
		sel = fz_u8(&in);
		lt = sel % (N_LINK_TYPES + 1) < N_LINK_TYPES ? link_types[sel % (N_LINK_TYPES + 1)]
							     : fz_u16(&in);
		n = fz_u16(&in);
		if (n > fz_left(&in))
			n = (uint32_t)fz_left(&in);
		frame = malloc(n ? n : 1);
		FZ_CHECK(frame, "out of memory");
		fz_bytes(&in, frame, n);
		memset(&o, 0xa5, sizeof(o));
		memset(&v, 0xa5, sizeof(v));
		st = pfc_decode_view(ft, lt, frame, n, &o, &v);
		check_record(st, &o);
		check_view(st, &v);
		free(frame);
	}
	free(ft);
	return 0;
}
