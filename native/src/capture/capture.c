// SPDX-License-Identifier: Apache-2.0
/*
 * capture.c - capture file framing (see capture.h): the file header, then pcap records or
 * pcapng blocks, each packet handed to pfc_decode().
 *
 * The parser is a small state machine over the bytes it is fed: it consumes whole records, so
 * the caller keeps the unconsumed tail and appends the next read to it. Blocks it skips (name
 * resolution, statistics, decryption secrets, unknown types) are the exception: they are passed
 * over in pieces as they stream by, whatever their length. Only packet, section and interface
 * blocks must be held whole, up to PFC_MAX_RECORD bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "decode.h"

#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16

#define NG_SHB 0x0a0d0d0au
#define NG_IDB 0x00000001u
#define NG_OPB 0x00000002u	/* obsolete packet block */
#define NG_SPB 0x00000003u
#define NG_EPB 0x00000006u
#define NG_BOM 0x1a2b3c4du

#define NG_OPT_END 0
#define NG_OPT_TSRESOL 9
#define NG_OPT_TSOFFSET 14

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

enum { ST_MAGIC, ST_PCAP, ST_NG, ST_NG_SKIP, ST_ERROR };

struct pfc_iface {
	__u64 div;		/* decimal resolution: units per second */
	__s64 tsoffset;		/* if_tsoffset: seconds added to every timestamp */
	__u32 linktype;
	__u32 snaplen;		/* 0: no limit */
	__u32 index;		/* interface number in the file */
	__u8 exp;		/* if_tsresol exponent */
	__u8 binary;		/* the exponent is of 2, not of 10 */
};

struct pfc_parser {
	__u64 pos;		/* file offset of the next byte to parse */
	__u64 skip_start;	/* file offset of the block being skipped */
	__u32 skip_left;	/* its bytes still to pass, trailer included */
	__u32 skip_len;		/* its total length, which the trailer repeats */
	__u32 skip_type;
	int state;
	int swap;		/* the file's byte order is not the host's */
	__u32 linktype;		/* pcap */
	int pcap_ns;		/* pcap nanosecond magic */
	struct pfc_iface *ifs;	/* pcapng interfaces of the current section */
	__u32 nifs;
	__u32 cap_ifs;
	struct pfc_stats st;
	__u64 err_off;
	char err[192];
	struct pfc_fragtab frags;
};

/* one call's buffers and progress */
struct cursor {
	const __u8 *buf;
	struct pf_pkt *pkts;
	struct pfc_meta *meta;
	__u32 len;
	__u32 off;
	__u32 max;
	__u32 count;
	__u32 need;
};

static const __u64 pfc_pow10[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};

static __always_inline __u32 ld32(const __u8 *b, int swap)
{
	__u32 v;

	memcpy(&v, b, 4);
	return swap ? __builtin_bswap32(v) : v;
}

static __always_inline __u32 ld16(const __u8 *b, int swap)
{
	__u16 v;

	memcpy(&v, b, 2);
	return swap ? __builtin_bswap16(v) : v;
}

static inline __u32 rd32(const struct pfc_parser *p, const __u8 *b)
{
	return ld32(b, p->swap);
}

static inline __u32 rd16(const struct pfc_parser *p, const __u8 *b)
{
	return ld16(b, p->swap);
}

/* records a file error at file offset off; the parser refuses every later call */
static int fail(struct pfc_parser *p, __u64 off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->err_off = off;
	p->state = ST_ERROR;
	return -EINVAL;
}

/* one end of a connection, its 16 address bytes and port, mixed into 32 bits */
static __always_inline __u32 mix_end(const __u8 *addr, __u16 port)
{
	__u32 w[4], h;

	memcpy(w, addr, sizeof(w));
	h = (w[3] ^ port) * 0x9e3779b1u;
	h ^= w[2] * 0x85ebca77u;
	h ^= w[1] * 0xc2b2ae3du;
	h ^= w[0] * 0x27d4eb2fu;
	return h ^ (h >> 15);
}

__u32 pfc_flow_hash(const struct pf_pkt *pkt)
{
	__u32 h = (mix_end(pkt->saddr, pkt->sport) + mix_end(pkt->daddr, pkt->dport)) ^ pkt->proto;

	/* murmur3's finaliser */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

__u32 pfc_share_out(const struct pfc_meta *meta, __u32 count, __u32 slots, __u32 *order,
		    __u32 *starts, __u8 *owner)
{
	__u32 next[256], i, s, skipped = 0;

	memset(starts, 0, (slots + 1) * sizeof(*starts));
	for (i = 0; i < count; i++) {
		if (meta[i].status != PFC_OK) {
			skipped++;
			continue;
		}
		s = meta[i].flow_hash % slots;
		owner[i] = (__u8)s;
		starts[s + 1]++;
	}
	for (s = 1; s <= slots; s++)
		starts[s] += starts[s - 1];
	memcpy(next, starts, slots * sizeof(*next));
	for (i = 0; i < count; i++)
		if (meta[i].status == PFC_OK)
			order[next[owner[i]]++] = i;
	return skipped;
}

/* pkt: the record just decoded, or NULL when there is none (a truncated record) */
static __always_inline void put_meta(struct pfc_meta *m, __u64 at, __u64 sec, __u32 nsec,
				     __u32 caplen, __u32 origlen, __u32 ifindex, __u32 lt,
				     __u32 status, const struct pfc_fixed_view *v,
				     const struct pf_pkt *pkt)
{
	m->off_lo = (__u32)at;
	m->off_hi = (__u32)(at >> 32);
	m->sec_lo = (__u32)sec;
	m->sec_hi = (__u32)(sec >> 32);
	m->nsec = nsec;
	m->caplen = caplen;
	m->origlen = origlen;
	m->ifindex = ifindex;
	m->linktype = lt;
	m->status = status;
	m->fixed_ports = v ? v->ports : 0;
	m->fixed_info = v ? v->info : 0;
	m->flow_hash = pkt && status == PFC_OK ? pfc_flow_hash(pkt) : 0;
}

int pfc_parser_new(struct pfc_parser **out)
{
	struct pfc_parser *p;
	int ret = 0;

	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto cleanup;
	}
	p->state = ST_MAGIC;
	*out = p;
cleanup:
	return ret;
}

void pfc_parser_free(struct pfc_parser *p)
{
	if (p)
		free(p->ifs);
	free(p);
}

__u64 pfc_position(const struct pfc_parser *p)
{
	return p->pos;
}

const char *pfc_error(const struct pfc_parser *p, __u64 *offset)
{
	const char *what = NULL;

	if (p->state == ST_ERROR) {
		*offset = p->err_off;
		what = p->err;
	}
	return what;
}

void pfc_stats(const struct pfc_parser *p, struct pfc_stats *st)
{
	*st = p->st;
	st->frag_remembered = p->frags.remembered;
	st->frag_evicted = p->frags.evicted;
}

/* the file header: pcap (either magic, either order) or the first bytes of a pcapng SHB */
static int detect(struct pfc_parser *p, struct cursor *c, int final)
{
	const __u8 *b = c->buf;
	__u32 magic, major, minor;
	int ret = 0;

	if (c->len < 4) {
		if (!final)
			c->need = 4;
		else if (c->len)
			ret = fail(p, 0, "truncated file header (%u of 4 bytes)", c->len);
		else
			ret = fail(p, 0, "empty file: no pcap or pcapng header");
		goto out;
	}
	magic = (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
	if (magic == NG_SHB) {
		/* the section header block sets the byte order */
		p->state = ST_NG;
		p->st.format = PFC_FMT_PCAPNG;
		goto out;
	}
	if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) {
		p->swap = ld32(b, 0) != magic;
	} else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) {
		p->swap = ld32(b, 0) != __builtin_bswap32(magic);
	} else {
		ret = fail(p, 0, "not a pcap or pcapng file: magic 0x%08x", magic);
		goto out;
	}
	p->pcap_ns = magic == 0xa1b23c4du || magic == 0x4d3cb2a1u;
	if (c->len < PCAP_FILE_HDR) {
		if (final)
			ret = fail(p, c->len, "truncated pcap file header (%u of %u bytes)", c->len,
				   PCAP_FILE_HDR);
		else
			c->need = PCAP_FILE_HDR;
		goto out;
	}
	major = rd16(p, b + 4);
	minor = rd16(p, b + 6);
	if (major != 2) {
		ret = fail(p, 4, "pcap version %u.%u: only 2.x is read", major, minor);
		goto out;
	}
	/* the link type is the low 16 bits; the high ones carry FCS information */
	p->linktype = rd32(p, b + 20) & 0xffff;
	p->state = ST_PCAP;
	p->st.format = PFC_FMT_PCAP;
	c->off = PCAP_FILE_HDR;
out:
	return ret;
}

/* the pcap record loop, specialised for the file's byte order */
static __always_inline int pcap_loop(struct pfc_parser *p, struct cursor *c, int swap)
{
	const __u8 *b = c->buf, *h;
	__u32 off = c->off, len = c->len, count = c->count, caplen, frac, status, lt = p->linktype;
	__u32 lim = p->pcap_ns ? 1000000000u : 1000000u, mul = p->pcap_ns ? 1 : 1000;
	struct pfc_fixed_view view;
	__u64 sec;
	int ret = 0;

	while (count < c->max) {
		if (len - off < PCAP_REC_HDR) {
			c->need = PCAP_REC_HDR;
			break;
		}
		h = b + off;
		caplen = ld32(h + 8, swap);
		if (caplen > PFC_MAX_CAPLEN) {
			ret = fail(p, p->pos + off + 8, "record caplen %u exceeds %u", caplen,
				   PFC_MAX_CAPLEN);
			break;
		}
		if (len - off - PCAP_REC_HDR < caplen) {
			c->need = PCAP_REC_HDR + caplen;
			break;
		}
		sec = ld32(h, swap);
		frac = ld32(h + 4, swap);
		if (frac >= lim) {
			sec += frac / lim;
			frac %= lim;
		}
		status = pfc_decode_view(&p->frags, lt, h + PCAP_REC_HDR, caplen, &c->pkts[count],
					 &view);
		put_meta(&c->meta[count], p->pos + off, sec, frac * mul, caplen, ld32(h + 12, swap),
			 0, lt, status, &view, &c->pkts[count]);
		p->st.status[status]++;
		count++;
		off += PCAP_REC_HDR + caplen;
	}
	c->off = off;
	c->count = count;
	return ret;
}

static int pcap_records(struct pfc_parser *p, struct cursor *c, int final)
{
	const __u8 *h;
	__u32 rest, frac, lim = p->pcap_ns ? 1000000000u : 1000000u;
	__u64 sec;
	int ret;

	ret = p->swap ? pcap_loop(p, c, 1) : pcap_loop(p, c, 0);
	if (ret || !final || c->count == c->max || c->off == c->len)
		goto out;
	/* the file ends inside a record */
	rest = c->len - c->off;
	h = c->buf + c->off;
	if (rest < PCAP_REC_HDR) {
		ret = fail(p, p->pos + c->off, "truncated record header (%u of %u bytes)", rest,
			   PCAP_REC_HDR);
		goto out;
	}
	sec = rd32(p, h);
	frac = rd32(p, h + 4);
	if (frac >= lim) {
		sec += frac / lim;
		frac %= lim;
	}
	memset(&c->pkts[c->count], 0, sizeof(struct pf_pkt));
	put_meta(&c->meta[c->count], p->pos + c->off, sec, frac * (p->pcap_ns ? 1 : 1000),
		 rd32(p, h + 8), rd32(p, h + 12), 0, p->linktype, PFC_SKIP_TRUNCATED_RECORD, NULL,
		 NULL);
	p->st.status[PFC_SKIP_TRUNCATED_RECORD]++;
	c->count++;
	c->off = c->len;
	c->need = 0;
out:
	return ret;
}

/* an interface's timestamp units since the epoch into seconds and nanoseconds */
static void ng_time(const struct pfc_iface *i, __u64 u, __u64 *sec, __u32 *nsec)
{
	__u64 s, f;
	__u32 e;

	if (i->binary) {
		e = i->exp;
		s = u >> e;
		f = u & ((1ull << e) - 1);
		/* keep 34 fraction bits so that f * 10^9 fits 64 bits; finer than a nanosecond */
		if (e > 34) {
			f >>= e - 34;
			e = 34;
		}
		*nsec = (__u32)((f * 1000000000ull) >> e);
	} else if (i->exp == 6) {
		s = u / 1000000u;
		*nsec = (__u32)(u % 1000000u) * 1000u;
	} else if (i->exp == 9) {
		s = u / 1000000000u;
		*nsec = (__u32)(u % 1000000000u);
	} else {
		s = u / i->div;
		f = u % i->div;
		*nsec = (__u32)(i->exp <= 9 ? f * pfc_pow10[9 - i->exp] : f / pfc_pow10[i->exp - 9]);
	}
	*sec = s + (__u64)i->tsoffset;
}

/* a section header block: byte order (already set by the caller), version, no interfaces */
static int ng_shb(struct pfc_parser *p, const __u8 *b, __u32 blen, __u64 at)
{
	__u32 major = rd16(p, b + 12), minor = rd16(p, b + 14);
	int ret = 0;

	if (blen < 28) {
		ret = fail(p, at + 4, "section header block length %u is under 28", blen);
		goto out;
	}
	if (major != 1) {
		ret = fail(p, at + 12, "pcapng version %u.%u: only 1.x is read", major, minor);
		goto out;
	}
	p->nifs = 0;
	p->st.sections++;
out:
	return ret;
}

/* an interface description block: link type, snaplen, if_tsresol and if_tsoffset */
static int ng_idb(struct pfc_parser *p, const __u8 *b, __u32 blen, __u64 at)
{
	struct pfc_iface *i, *grown;
	__u32 o = 16, end = blen - 4, code, olen, n;
	__u64 off64;
	int ret = 0;

	if (blen < 20) {
		ret = fail(p, at + 4, "interface description block length %u is under 20", blen);
		goto out;
	}
	if (p->nifs == PFC_MAX_IFACES) {
		ret = fail(p, at, "more than %u interfaces in one section", PFC_MAX_IFACES);
		goto out;
	}
	if (p->nifs == p->cap_ifs) {
		n = p->cap_ifs ? 2 * p->cap_ifs : 8;
		grown = realloc(p->ifs, n * sizeof(*grown));
		if (!grown) {
			ret = -ENOMEM;
			goto out;
		}
		p->ifs = grown;
		p->cap_ifs = n;
	}
	i = &p->ifs[p->nifs];
	memset(i, 0, sizeof(*i));
	i->linktype = rd16(p, b + 8);
	i->snaplen = rd32(p, b + 12);
	i->exp = 6;
	while (o + 4 <= end) {
		code = rd16(p, b + o);
		olen = rd16(p, b + o + 2);
		if (code == NG_OPT_END)
			break;
		if (olen > end - o - 4) {
			ret = fail(p, at + o, "interface option %u of %u bytes overruns its block",
				   code, olen);
			goto out;
		}
		if (code == NG_OPT_TSRESOL && olen >= 1) {
			i->binary = b[o + 4] >> 7;
			i->exp = b[o + 4] & 0x7f;
			if (i->exp > (i->binary ? 63 : 19)) {
				ret = fail(p, at + o + 4, "if_tsresol 0x%02x is out of range", b[o + 4]);
				goto out;
			}
		} else if (code == NG_OPT_TSOFFSET && olen >= 8) {
			memcpy(&off64, b + o + 4, 8);
			i->tsoffset = (__s64)(p->swap ? __builtin_bswap64(off64) : off64);
		}
		o += 4 + ((olen + 3) & ~3u);
	}
	i->div = i->binary ? 0 : pfc_pow10[i->exp];
	i->index = p->st.interfaces++;
	p->nifs++;
out:
	return ret;
}

/*
 * an enhanced, simple or obsolete packet block at b, blen long, of which avail bytes are
 * there: all of it, or (trunc set) the file's last bytes, which give a truncated-record slot
 */
static int ng_packet(struct pfc_parser *p, struct cursor *c, __u32 type, const __u8 *b,
		     __u32 blen, __u64 at, int trunc)
{
	const struct pfc_iface *i;
	__u32 ifid = 0, caplen = 0, origlen, room, nsec = 0, status = PFC_SKIP_TRUNCATED_RECORD, hdr;
	struct pfc_fixed_view view;
	__u64 sec = 0;
	int ret = 0;

	hdr = type == NG_SPB ? 12 : 28;
	if (blen < hdr + 4) {
		ret = fail(p, at + 4, "packet block length %u is under %u", blen, hdr + 4);
		goto out;
	}
	room = blen - hdr - 4;
	if (type == NG_SPB) {
		origlen = rd32(p, b + 8);
	} else {
		ifid = type == NG_EPB ? rd32(p, b + 8) : rd16(p, b + 8);
		caplen = rd32(p, b + 20);
		origlen = rd32(p, b + 24);
	}
	if (ifid >= p->nifs) {
		ret = fail(p, at + 8, "packet on interface %u, but the section describes %u", ifid,
			   p->nifs);
		goto out;
	}
	i = &p->ifs[ifid];
	if (type == NG_SPB) {
		/* implied: the original length cut to the snaplen and to the block */
		caplen = origlen;
		if (i->snaplen && caplen > i->snaplen)
			caplen = i->snaplen;
		if (caplen > room)
			caplen = room;
	} else {
		ng_time(i, (__u64)rd32(p, b + 12) << 32 | rd32(p, b + 16), &sec, &nsec);
	}
	if (caplen > PFC_MAX_CAPLEN) {
		ret = fail(p, at + 20, "packet caplen %u exceeds %u", caplen, PFC_MAX_CAPLEN);
		goto out;
	}
	if (caplen > room) {
		ret = fail(p, at + 20, "packet caplen %u overruns its block of %u bytes", caplen,
			   blen);
		goto out;
	}
	if (trunc)
		memset(&c->pkts[c->count], 0, sizeof(struct pf_pkt));
	else
		status = pfc_decode_view(&p->frags, i->linktype, b + hdr, caplen,
					 &c->pkts[c->count], &view);
	put_meta(&c->meta[c->count], at, sec, nsec, caplen, origlen, i->index, i->linktype,
		 status, trunc ? NULL : &view, trunc ? NULL : &c->pkts[c->count]);
	p->st.status[status]++;
	c->count++;
out:
	return ret;
}

static inline int ng_is_packet(__u32 type)
{
	return type == NG_EPB || type == NG_SPB || type == NG_OPB;
}

/* the file ends inside a block: a packet block gives a truncated-record slot */
static int ng_tail(struct pfc_parser *p, struct cursor *c)
{
	const __u8 *b = c->buf + c->off;
	__u32 rest = c->len - c->off, type, blen;
	__u64 at = p->pos + c->off;
	int ret;

	if (p->state == ST_NG_SKIP) {
		ret = fail(p, p->skip_start,
			   "truncated block: type 0x%08x of %u bytes, the file ends %u bytes short",
			   p->skip_type, p->skip_len, p->skip_left - rest);
		goto out;
	}
	if (rest < 8) {
		ret = fail(p, at, "truncated block header (%u of 8 bytes)", rest);
		goto out;
	}
	type = rd32(p, b);
	/* a section header's length is in its byte order, which its 9th to 12th bytes give */
	if (type == NG_SHB && rest < 12) {
		ret = fail(p, at, "truncated section header block (%u of at least 28 bytes)", rest);
		goto out;
	}
	blen = rd32(p, b + 4);
	if (ng_is_packet(type) && rest >= (type == NG_SPB ? 12u : 28u)) {
		ret = ng_packet(p, c, type, b, blen, at, 1);
		if (!ret)
			c->off = c->len;
		goto out;
	}
	ret = fail(p, at, "truncated block: type 0x%08x of %u bytes, the file ends %u bytes short",
		   type, blen, blen - rest);
out:
	c->need = 0;
	return ret;
}

static int ng_blocks(struct pfc_parser *p, struct cursor *c, int final)
{
	const __u8 *b;
	__u32 avail, take, type, blen, bom;
	__u64 at;
	int ret = 0;

	while (!ret && c->count < c->max) {
		avail = c->len - c->off;
		b = c->buf + c->off;
		at = p->pos + c->off;
		if (p->state == ST_NG_SKIP) {
			/* pass the skipped block's body as it streams by, then check its trailer */
			if (p->skip_left > 4) {
				take = avail < p->skip_left - 4 ? avail : p->skip_left - 4;
				c->off += take;
				p->skip_left -= take;
				if (p->skip_left > 4) {
					c->need = 1;
					break;
				}
				continue;
			}
			if (avail < 4) {
				c->need = 4;
				break;
			}
			if (rd32(p, b) != p->skip_len) {
				ret = fail(p, at, "block trailer length %u differs from the header's %u",
					   rd32(p, b), p->skip_len);
				break;
			}
			c->off += 4;
			p->skip_left = 0;
			p->state = ST_NG;
			continue;
		}
		if (avail < 8) {
			c->need = 8;
			break;
		}
		type = rd32(p, b);
		if (type == NG_SHB) {
			if (avail < 12) {
				c->need = 12;
				break;
			}
			memcpy(&bom, b + 8, 4);
			if (bom != NG_BOM && bom != __builtin_bswap32(NG_BOM)) {
				ret = fail(p, at + 8,
					   "section header byte-order magic 0x%08x is 0x1a2b3c4d in neither order",
					   bom);
				break;
			}
			p->swap = bom != NG_BOM;
		} else if (!p->st.sections) {
			ret = fail(p, at, "block type 0x%08x before the first section header", type);
			break;
		}
		blen = rd32(p, b + 4);
		if (blen < 12 || blen % 4) {
			ret = fail(p, at + 4, "block length %u is not a multiple of 4 of at least 12",
				   blen);
			break;
		}
		if (type != NG_SHB && type != NG_IDB && !ng_is_packet(type)) {
			p->skip_start = at;
			p->skip_len = blen;
			p->skip_left = blen - 8;
			p->skip_type = type;
			p->state = ST_NG_SKIP;
			c->off += 8;
			continue;
		}
		if (blen > PFC_MAX_RECORD) {
			ret = fail(p, at + 4, "block length %u exceeds %u", blen, PFC_MAX_RECORD);
			break;
		}
		if (avail < blen) {
			c->need = blen;
			break;
		}
		if (rd32(p, b + blen - 4) != blen) {
			ret = fail(p, at + blen - 4, "block trailer length %u differs from the header's %u",
				   rd32(p, b + blen - 4), blen);
			break;
		}
		if (type == NG_SHB)
			ret = ng_shb(p, b, blen, at);
		else if (type == NG_IDB)
			ret = ng_idb(p, b, blen, at);
		else
			ret = ng_packet(p, c, type, b, blen, at, 0);
		if (!ret)
			c->off += blen;
	}
	if (!ret && final && c->count < c->max && (c->off < c->len || p->state == ST_NG_SKIP))
		ret = ng_tail(p, c);
	return ret;
}

int pfc_parse(struct pfc_parser *p, const __u8 *buf, __u32 len, int final, struct pf_pkt *pkts,
	      struct pfc_meta *meta, __u32 max, struct pfc_result *res)
{
	struct cursor c = { .buf = buf, .pkts = pkts, .meta = meta, .len = len, .max = max };
	int ret = 0;

	if (p->state == ST_ERROR) {
		ret = -EINVAL;
		goto out;
	}
	if (p->state == ST_MAGIC) {
		ret = detect(p, &c, final);
		if (ret || p->state == ST_MAGIC)
			goto out;
	}
	if (p->state == ST_PCAP)
		ret = pcap_records(p, &c, final);
	else
		ret = ng_blocks(p, &c, final);
out:
	if (ret == -EINVAL && p->state != ST_ERROR)
		ret = fail(p, p->pos + c.off, "internal: invalid state");
	p->pos += c.off;
	p->st.bytes += c.off;
	p->st.packets += c.count;
	res->consumed = c.off;
	res->count = c.count;
	res->need = ret ? 0 : c.need;
	return ret;
}
