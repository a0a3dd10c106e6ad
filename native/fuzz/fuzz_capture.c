// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_capture.c - libFuzzer target for the capture file parser (native/src/capture/): the
 * input is a whole capture file (pcap or pcapng, any link type), so every corpus file can be
 * handed to `pfsim verdict --pcap` as it is.
 *
 * The file is parsed three ways: in one piece with final set, and twice streamed as the
 * reader does it (src/capture/reader.ts), in chunks of sizes drawn from a hash of the input
 * (1-16 bytes and 1-4096 bytes) with small batch limits, each window copied to the end of a
 * buffer of the file's length so that a read past the window is caught. Checked besides memory safety and UB:
 *   - the chunking and the batch size change nothing: same slots, same error, same stats;
 *   - a call never claims more than it was given, asks for more than PFC_MAX_RECORD, or
 *     stops short of its batch without an error while holding what it asked for (a hang);
 *   - with final set nothing is left over; a file error is one line at an offset in the file;
 *   - every slot: a known status, nanoseconds under 10^9, record offsets increasing inside
 *     the file, an all-zero record when skipped, and the stats count exactly the slots.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "fuzz_input.h"

#define REF_BATCH 4096u

struct slots {
	struct pf_pkt *pkts;
	struct pfc_meta *meta;
	size_t n;
	size_t cap;
};

/* what one way of parsing the file produced */
struct outcome {
	struct slots s;
	int err;
	__u64 err_off;
	char msg[256];
	struct pfc_stats st;
};

static void slots_push(struct slots *s, const struct pf_pkt *p, const struct pfc_meta *m,
		       uint32_t n)
{
	if (!n)
		return;
	if (s->n + n > s->cap) {
		size_t cap = s->cap ? s->cap : 64;

		while (cap < s->n + n)
			cap *= 2;
		s->pkts = realloc(s->pkts, cap * sizeof(*s->pkts));
		s->meta = realloc(s->meta, cap * sizeof(*s->meta));
		FZ_CHECK(s->pkts && s->meta, "out of memory");
		s->cap = cap;
	}
	memcpy(s->pkts + s->n, p, n * sizeof(*p));
	memcpy(s->meta + s->n, m, n * sizeof(*m));
	s->n += n;
}

static uint64_t meta_off(const struct pfc_meta *m)
{
	return (uint64_t)m->off_hi << 32 | m->off_lo;
}

/* the properties of one call's result and of the slots it wrote */
static void check_call(const struct pfc_parser *p, int ret, const struct pfc_result *res,
		       uint32_t given, uint32_t max, const struct pf_pkt *pk,
		       const struct pfc_meta *me, uint64_t *last_off, size_t file_len)
{
	static const struct pf_pkt zero;
	uint64_t off;
	__u64 eoff = 0;
	const char *msg;
	uint32_t i;

	FZ_CHECK(ret == 0 || ret == -EINVAL, "pfc_parse returned %d", ret);
	FZ_CHECK(res->consumed <= given, "consumed %u of %u bytes", res->consumed, given);
	FZ_CHECK(res->count <= max, "wrote %u slots of %u", res->count, max);
	FZ_CHECK(res->need <= PFC_MAX_RECORD, "asks for %u bytes", res->need);
	FZ_CHECK(!ret || res->need == 0, "an error that asks for more bytes");
	for (i = 0; i < res->count; i++) {
		FZ_CHECK(me[i].status < PFC_STATUS_COUNT, "slot status %u", me[i].status);
		FZ_CHECK(me[i].nsec < 1000000000u, "nanoseconds %u", me[i].nsec);
		FZ_CHECK(me[i].status == PFC_OK || !memcmp(&pk[i], &zero, sizeof(zero)),
			 "a skipped slot with a record");
		off = meta_off(&me[i]);
		FZ_CHECK(off < file_len, "slot offset %llu past the file's %zu bytes",
			 (unsigned long long)off, file_len);
		FZ_CHECK(*last_off == UINT64_MAX || off > *last_off, "slot offsets do not increase");
		*last_off = off;
	}
	msg = pfc_error(p, &eoff);
	FZ_CHECK(!ret == !msg, "return %d but error %s", ret, msg ? msg : "(none)");
	if (msg) {
		FZ_CHECK(!strchr(msg, '\n') && *msg, "error message is not one line: %s", msg);
		FZ_CHECK(eoff <= file_len, "error offset %llu past the file's %zu bytes",
			 (unsigned long long)eoff, file_len);
	}
}

static void finish(struct pfc_parser *p, struct outcome *o)
{
	const char *msg = pfc_error(p, &o->err_off);
	uint64_t by = 0;
	uint32_t i;

	o->err = msg != NULL;
	snprintf(o->msg, sizeof(o->msg), "%s", msg ? msg : "");
	pfc_stats(p, &o->st);
	FZ_CHECK(o->st.packets == o->s.n, "stats count %llu packets, %zu slots",
		 (unsigned long long)o->st.packets, o->s.n);
	for (i = 0; i < PFC_STATUS_COUNT; i++)
		by += o->st.status[i];
	FZ_CHECK(by == o->st.packets, "statuses add up to %llu of %llu", (unsigned long long)by,
		 (unsigned long long)o->st.packets);
}

/* the file in one piece, final set, batches of REF_BATCH */
static void parse_whole(const uint8_t *data, size_t len, struct outcome *o)
{
	static struct pf_pkt pk[REF_BATCH];
	static struct pfc_meta me[REF_BATCH];
	uint64_t last = UINT64_MAX;
	struct pfc_parser *p = NULL;
	struct pfc_result res;
	size_t pos = 0;
	int ret;

	FZ_CHECK(pfc_parser_new(&p) == 0, "pfc_parser_new");
	for (;;) {
		ret = pfc_parse(p, data + pos, (uint32_t)(len - pos), 1, pk, me, REF_BATCH, &res);
		check_call(p, ret, &res, (uint32_t)(len - pos), REF_BATCH, pk, me, &last, len);
		slots_push(&o->s, pk, me, res.count);
		pos += res.consumed;
		if (ret || res.count < REF_BATCH)
			break;
	}
	FZ_CHECK(ret || pos == len, "final call left %zu of %zu bytes", len - pos, len);
	FZ_CHECK(pfc_position(p) == pos, "position %llu, consumed %zu",
		 (unsigned long long)pfc_position(p), pos);
	finish(p, o);
	pfc_parser_free(p);
}

/*
 * the file streamed as the reader does: a window of the bytes fed and not yet consumed,
 * grown by chunks of 1..max_chunk bytes (at least what the parser asked for)
 */
static void parse_streamed(const uint8_t *data, size_t len, uint32_t seed, uint32_t max_chunk,
			   uint32_t batch, struct outcome *o)
{
	struct pf_pkt pk[16];
	struct pfc_meta me[16];
	uint64_t last = UINT64_MAX;
	struct pfc_parser *p = NULL;
	struct pfc_result res;
	size_t pos = 0, fed = 0, want, step;
	struct fz_rng rng;
	uint8_t *buf, *win;
	int ret, final;

	fz_rng_seed(&rng, seed);
	FZ_CHECK(pfc_parser_new(&p) == 0, "pfc_parser_new");
	buf = malloc(len ? len : 1);
	FZ_CHECK(buf, "out of memory");
	for (;;) {
		final = fed == len;
		/* the window ends where the buffer does: ASan catches a read past it */
		win = buf + len - (fed - pos);
		memcpy(win, data + pos, fed - pos);
		ret = pfc_parse(p, win, (uint32_t)(fed - pos), final, pk, me, batch, &res);
		check_call(p, ret, &res, (uint32_t)(fed - pos), batch, pk, me, &last, len);
		slots_push(&o->s, pk, me, res.count);
		pos += res.consumed;
		if (ret)
			break;
		if (res.count == batch)
			continue;
		if (final) {
			FZ_CHECK(pos == len, "final call left %zu of %zu bytes", len - pos, len);
			break;
		}
		/* stopped short of its batch without an error: it must be waiting for bytes */
		FZ_CHECK(res.need > fed - pos, "stopped holding %zu bytes, asks for %u (a hang)",
			 fed - pos, res.need);
		step = 1 + fz_rng_next(&rng) % max_chunk;
		want = res.need - (fed - pos);
		fed += step > want ? step : want;
		if (fed > len)
			fed = len;
	}
	free(buf);
	finish(p, o);
	pfc_parser_free(p);
}

static void compare(const struct outcome *a, const struct outcome *b, const char *how)
{
	size_t i;

	FZ_CHECK(a->s.n == b->s.n, "%s: %zu slots, whole file: %zu", how, b->s.n, a->s.n);
	for (i = 0; i < a->s.n; i++) {
		FZ_CHECK(!memcmp(&a->s.pkts[i], &b->s.pkts[i], sizeof(struct pf_pkt)),
			 "%s: slot %zu record differs", how, i);
		FZ_CHECK(!memcmp(&a->s.meta[i], &b->s.meta[i], sizeof(struct pfc_meta)),
			 "%s: slot %zu meta differs", how, i);
	}
	FZ_CHECK(a->err == b->err && a->err_off == b->err_off && !strcmp(a->msg, b->msg),
		 "%s: error at %llu \"%s\", whole file: at %llu \"%s\"", how,
		 (unsigned long long)b->err_off, b->msg, (unsigned long long)a->err_off, a->msg);
	FZ_CHECK(!memcmp(&a->st, &b->st, sizeof(a->st)), "%s: stats differ", how);
}

static void outcome_free(struct outcome *o)
{
	free(o->s.pkts);
	free(o->s.meta);
}

/* FNV-1a: chunk sizes follow from the bytes, so every input replays the same way */
static uint32_t hash(const uint8_t *d, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct outcome whole, tiny, big;
	uint32_t h = hash(data, len);

	if (len > PFC_MAX_RECORD)
		return 0;
	memset(&whole, 0, sizeof(whole));
	memset(&tiny, 0, sizeof(tiny));
	memset(&big, 0, sizeof(big));
	parse_whole(data, len, &whole);
	parse_streamed(data, len, h, 16, 1 + (h >> 8) % 16, &tiny);
	compare(&whole, &tiny, "chunks of 1-16 bytes");
	parse_streamed(data, len, h ^ 0x5bd1e995u, 4096, 1 + (h >> 16) % 16, &big);
	compare(&whole, &big, "chunks of 1-4096 bytes");
	outcome_free(&whole);
	outcome_free(&tiny);
	outcome_free(&big);
	return 0;
}
