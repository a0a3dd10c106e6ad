/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_input.h - helpers shared by the libFuzzer targets: a reader that takes typed values
 * off the front of the fuzzer's input (zeros once it runs dry, so every input is usable),
 * a small deterministic PRNG for expanding a few input bytes into many keys or chunk sizes,
 * and a check that aborts with a message, so that libFuzzer saves the input that broke it.
 */
#ifndef PFSIM_FUZZ_INPUT_H
#define PFSIM_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline size_t fz_left(const struct fz_in *in)
{
	return in->n;
}

/* copies up to len bytes into out, zero-filling what the input no longer has */
static inline void fz_bytes(struct fz_in *in, void *out, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static inline uint8_t fz_u8(struct fz_in *in)
{
	uint8_t v;

	fz_bytes(in, &v, 1);
	return v;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	uint8_t b[2];

	fz_bytes(in, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fz_u32(struct fz_in *in)
{
	uint8_t b[4];

	fz_bytes(in, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* xorshift32; a zero seed is replaced so the sequence never sticks at zero */
struct fz_rng {
	uint32_t s;
};

static inline void fz_rng_seed(struct fz_rng *r, uint32_t seed)
{
	r->s = seed ? seed : 0x9e3779b9u;
}

static inline uint32_t fz_rng_next(struct fz_rng *r)
{
	uint32_t s = r->s;

	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	r->s = s;
	return s;
}

/* a property the code under test broke: say which, then abort so the input is kept */
#define FZ_CHECK(cond, ...)                                                         \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,      \
				__LINE__, #cond);                                   \
			fprintf(stderr, __VA_ARGS__);                               \
			fputc('\n', stderr);                                        \
			abort();                                                    \
		}                                                                   \
	} while (0)

#endif /* PFSIM_FUZZ_INPUT_H */
