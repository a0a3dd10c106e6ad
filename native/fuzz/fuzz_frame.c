// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_frame.c - libFuzzer target for pfb_frame() (native/src/bpf/bpf_frame.c), which turns
 * a header record back into the Ethernet frame the bpf engine hands BPF_PROG_TEST_RUN; the
 * records come from captures, so every field is outside data.
 *
 * Input: struct pf_pkt records of 40 bytes. Checked besides memory safety and UB: the frame
 * fits PFB_FRAME_MAX; a refused record is one the contract names (family neither 4 nor 6, an
 * IPv4 record whose addresses are not ::ffff:a.b.c.d, an IPv6 extension header as protocol);
 * and the capture decoder (pfc_decode, native/src/capture/decode.c) reads every frame back
 * into the record it came from, its ports kept only for TCP, UDP and SCTP and its flags only
 * for TCP. The two were written apart, so each checks the other.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_frame.h"
#include "decode.h"
#include "fuzz_input.h"

static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* what pfb_frame must refuse, by its contract */
static int refused(const struct pf_pkt *p)
{
	if (p->family == 4)
		return memcmp(p->saddr, mapped, 12) || memcmp(p->daddr, mapped, 12);
	if (p->family == 6)
		return p->proto == 0 || p->proto == 43 || p->proto == 44 || p->proto == 51 ||
		       p->proto == 60;
	return 1;
}

/* the record the frame carries: what the decoder can see of p */
static void carried(const struct pf_pkt *p, struct pf_pkt *w)
{
	int ports = p->proto == 6 || p->proto == 17 || p->proto == 132;

	*w = *p;
	w->pad = 0;
	w->sport = ports ? p->sport : 0;
	w->dport = ports ? p->dport : 0;
	w->flags = p->proto == 6 ? p->flags & PF_PKT_F_TCP : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fz_in in = { data, len };
	struct pfc_fragtab *ft;
	struct pf_pkt pkt, back, want;
	const char *why;
	uint8_t *frame, *exact;
	uint32_t flen, st;
	int ret;

	ft = calloc(1, sizeof(*ft));
	FZ_CHECK(ft, "out of memory");
	while (fz_left(&in) >= sizeof(pkt)) {
		fz_bytes(&in, &pkt, sizeof(pkt));
		frame = malloc(PFB_FRAME_MAX);
		FZ_CHECK(frame, "out of memory");
		flen = 0;
		ret = pfb_frame(&pkt, frame, &flen, &why);
		FZ_CHECK(ret == 0 || ret == -EINVAL, "pfb_frame returned %d", ret);
		FZ_CHECK(!ret == !refused(&pkt), "family %u proto %u: returned %d (%s)", pkt.family,
			 pkt.proto, ret, why ? why : "");
		FZ_CHECK(!ret || (why && *why), "a refusal without a reason");
		if (!ret) {
			FZ_CHECK(flen >= 14 + 20 && flen <= PFB_FRAME_MAX, "frame of %u bytes", flen);
			/* decoded from an exact-size copy: ASan catches a read past the frame */
			exact = malloc(flen);
			FZ_CHECK(exact, "out of memory");
			memcpy(exact, frame, flen);
			st = pfc_decode(ft, PFC_LT_ETHERNET, exact, flen, &back);
			free(exact);
			carried(&pkt, &want);
			FZ_CHECK(st == PFC_OK, "the decoder skips the frame: status %u", st);
			FZ_CHECK(!memcmp(&back, &want, sizeof(want)),
				 "family %u proto %u ports %u %u flags 0x%02x: decoded as family %u "
				 "proto %u ports %u %u flags 0x%02x",
				 want.family, want.proto, want.sport, want.dport, want.flags,
				 back.family, back.proto, back.sport, back.dport, back.flags);
		}
		free(frame);
	}
	free(ft);
	return 0;
}
