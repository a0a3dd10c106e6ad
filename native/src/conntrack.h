/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conntrack.h - connection tracking for the maps classifier: open addressing over struct
 * pf_ct_key with linear probing and backward-shift deletion, a fixed power-of-two number of
 * slots, entries aged by trace time and bounded like nf_conntrack_max.
 *
 * The state model (timeouts per state, assured, early drop) is the one documented at the top
 * of src/engines/conntrack.ts; this file mirrors it and the tests hold both to one reference.
 *
 * - Time: ct->now is the trace clock in seconds (the largest packet time handed in so far, so
 *   it never runs backwards); without times it stays put and nothing expires.
 * - An entry whose expiry has come is gone: a lookup that meets it deletes it and misses.
 * - Full (count == max): expired entries are swept (once per clock second), then the oldest
 *   unassured entry is dropped to make room (the kernel's early_drop); with none, the new
 *   connection is refused and its packet dropped (ct->refused, counted in insert_failed).
 * - Unassured entries are chained oldest first through prev/next (slot indexes), so the early
 *   drop victim is found in O(1); backward shifts fix the links of the entries they move.
 * - Each slot carries the table generation it was written in, so a reset is one increment.
 * Lookups and inserts allocate nothing.
 */
#ifndef PFSIM_CONNTRACK_H
#define PFSIM_CONNTRACK_H

#include <stddef.h>
#include "compiler.h"
#include <string.h>
#include "pfsim.h"

/* entry bits */
#define PFS_CT_REPLIED 0x01	/* a packet of the other direction was seen */
#define PFS_CT_ASSURED 0x02	/* early drop spares it */
#define PFS_CT_CLOSING 0x04	/* FIN or RST seen */
#define PFS_CT_ORIG_A 0x08	/* the first packet came from end a of the canonical key */

/* netfilter's default timeouts (kernel 6.1), seconds */
#define PFS_CT_TCP_SYN_SENT 120u
#define PFS_CT_TCP_SYN_RECV 60u
#define PFS_CT_TCP_ESTABLISHED 432000u
#define PFS_CT_TCP_CLOSING 120u		/* FIN_WAIT, TIME_WAIT */
#define PFS_CT_TCP_CLOSE 10u		/* after an RST */
#define PFS_CT_TCP_UNACK 300u		/* picked up mid-stream, no reply yet */
#define PFS_CT_UDP 30u
#define PFS_CT_UDP_STREAM 120u
#define PFS_CT_ICMP 30u
#define PFS_CT_GENERIC 600u
#define PFS_CT_KILL 0u			/* the packet ends the entry now */

#define PFS_CT_NIL (-1)

struct pfs_ct_slot {
	struct pf_ct_key key;
	__u32 expires;		/* trace seconds */
	__u32 hash;		/* home slot = hash >> hash_shift */
	__s32 prev;		/* unassured list, PFS_CT_NIL at the ends */
	__s32 next;
	__u32 gen;		/* live when equal to the table's gen */
	__u8 bits;		/* PFS_CT_* */
	__u8 pad[3];
};

struct pfs_conntrack {
	struct pfs_ct_slot *slots;
	__u64 insert_failed;	/* new connections refused: full, nothing to drop early */
	__u64 early_drops;	/* unassured entries dropped to make room */
	__u64 expired;		/* entries removed because their timeout passed */
	__u32 capacity;
	__u32 mask;
	__u32 hash_shift;
	__u32 max;		/* entries, as nf_conntrack_max */
	__u32 count;
	__u32 gen;
	__u32 now;
	__u32 swept_at;		/* now at the last sweep */
	__u32 unassured;
	__s32 head;		/* oldest unassured entry */
	__s32 tail;
	__u8 clock_started;
	__u8 swept;
	__u8 refused;		/* the last insert was refused */
};

#define PFS_CT_MIN_CAPACITY 8u
#define PFS_CT_MAX_CAPACITY (1u << 28)

/* returns 0, -EINVAL for a capacity that is no power of two in range, -ENOMEM */
int pfs_ct_init(struct pfs_conntrack *ct, __u32 capacity);
/* entries at most: 1 to 7/8 of the capacity; returns 0 or -EINVAL */
int pfs_ct_set_max(struct pfs_conntrack *ct, __u32 max);
void pfs_ct_reset(struct pfs_conntrack *ct);
void pfs_ct_free(struct pfs_conntrack *ct);
/* removes every expired entry */
void pfs_ct_sweep(struct pfs_conntrack *ct);
void pfs_ct_delete(struct pfs_conntrack *ct, __u32 i);

/* pfs_ct_advance_clock - the trace clock moves to t unless t is older */
static __always_inline void pfs_ct_advance_clock(struct pfs_conntrack *ct, __u32 t)
{
	if (!ct->clock_started || (__s32)(t - ct->now) > 0) {
		ct->now = t;
		ct->clock_started = 1;
	}
}

static __always_inline __u32 pfs_ct_hash(const struct pf_ct_key *k, __u64 w[5])
{
	__u64 h = 0x243f6a8885a308d3ull;
	int i;

	memcpy(w, k, 40);
	for (i = 0; i < 5; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return (__u32)(h >> 32);
}

static __always_inline int pfs_ct_key_eq(const struct pfs_ct_slot *s, const __u64 w[5])
{
	__u64 v[5];

	memcpy(v, &s->key, 40);
	return ((v[0] ^ w[0]) | (v[1] ^ w[1]) | (v[2] ^ w[2]) | (v[3] ^ w[3]) |
		(v[4] ^ w[4])) == 0;
}

static __always_inline int pfs_ct_live(const struct pfs_conntrack *ct, __u32 i)
{
	return ct->slots[i].gen == ct->gen;
}

static __always_inline int pfs_ct_expired(const struct pfs_conntrack *ct,
					  const struct pfs_ct_slot *s)
{
	return (__s32)(s->expires - ct->now) <= 0;
}

/* unassured list: append slot i / take it out */
static __always_inline void pfs_ct_link(struct pfs_conntrack *ct, __u32 i)
{
	struct pfs_ct_slot *s = &ct->slots[i];

	s->prev = ct->tail;
	s->next = PFS_CT_NIL;
	if (ct->tail != PFS_CT_NIL)
		ct->slots[ct->tail].next = (__s32)i;
	else
		ct->head = (__s32)i;
	ct->tail = (__s32)i;
	ct->unassured++;
}

static __always_inline void pfs_ct_unlink(struct pfs_conntrack *ct, __u32 i)
{
	struct pfs_ct_slot *s = &ct->slots[i];

	if (s->prev != PFS_CT_NIL)
		ct->slots[s->prev].next = s->next;
	else
		ct->head = s->next;
	if (s->next != PFS_CT_NIL)
		ct->slots[s->next].prev = s->prev;
	else
		ct->tail = s->prev;
	ct->unassured--;
}

/*
 * pfs_ct_step - the entry's next bits and timeout for a packet of protocol proto with TCP
 * flags, in the reply direction or not; PFS_CT_KILL when the packet ends the entry.
 * The model and its simplifications: src/engines/conntrack.ts.
 */
static __always_inline __u32 pfs_ct_step(__u8 proto, __u8 flags, int reply, __u8 *bits)
{
	__u8 b = *bits;
	__u32 t;

	switch (proto) {
	case 6:
		if (flags & PF_PKT_F_RST) {
			/* an RST before any reply ends the entry at once */
			if (!(b & PFS_CT_REPLIED))
				return PFS_CT_KILL;
			*bits = b | PFS_CT_CLOSING;
			return PFS_CT_TCP_CLOSE;
		}
		if (reply)
			b |= PFS_CT_REPLIED;
		if (flags & PF_PKT_F_FIN)
			b |= PFS_CT_CLOSING;
		if ((b & PFS_CT_REPLIED) && !(flags & PF_PKT_F_SYN))
			b |= PFS_CT_ASSURED;
		if (b & PFS_CT_CLOSING)
			t = PFS_CT_TCP_CLOSING;
		else if (b & PFS_CT_ASSURED)
			t = PFS_CT_TCP_ESTABLISHED;
		else if (flags & PF_PKT_F_SYN)
			t = (b & PFS_CT_REPLIED) ? PFS_CT_TCP_SYN_RECV : PFS_CT_TCP_SYN_SENT;
		else
			t = PFS_CT_TCP_UNACK;
		break;
	case 17:
		if (reply)
			b |= PFS_CT_REPLIED | PFS_CT_ASSURED;
		t = (b & PFS_CT_REPLIED) ? PFS_CT_UDP_STREAM : PFS_CT_UDP;
		break;
	case 1:
	case 58:
		t = PFS_CT_ICMP;
		break;
	default:
		t = PFS_CT_GENERIC;
		break;
	}
	*bits = b;
	return t;
}

/* pfs_ct_touch - a packet of the entry at slot i: state, timeout, unassured list */
static __always_inline void pfs_ct_touch(struct pfs_conntrack *ct, __u32 i, __u8 proto,
					 __u8 flags, int reply)
{
	struct pfs_ct_slot *s = &ct->slots[i];
	__u8 bits = s->bits;
	__u32 t = pfs_ct_step(proto, flags, reply, &bits);

	if (t == PFS_CT_KILL) {
		pfs_ct_delete(ct, i);
		return;
	}
	if ((bits & PFS_CT_ASSURED) && !(s->bits & PFS_CT_ASSURED))
		pfs_ct_unlink(ct, i);
	s->bits = bits;
	s->expires = ct->now + t;
}

/* does the packet come from end a of its canonical key? (pf_ct_key_build puts it first) */
static __always_inline int pfs_ct_from_a(const struct pf_ct_key *k, const struct pf_pkt *pkt)
{
	return k->port_a == pkt->sport && !memcmp(k->addr_a, pkt->saddr, PF_ADDR_LEN);
}

/*
 * pfs_ct_lookup - 1 when pkt's connection (key k) is tracked, its entry advanced by pkt;
 * 0 when not, or when the entry expired or a new SYN reopens a closing connection (the
 * entry is deleted and pkt is judged as a first packet)
 */
static __always_inline int pfs_ct_lookup(struct pfs_conntrack *ct, const struct pf_ct_key *k,
					 const struct pf_pkt *pkt)
{
	struct pfs_ct_slot *s;
	__u64 w[5];
	__u32 i, n;
	int found = 0, reply;

	if (!ct->count)
		goto out;
	i = pfs_ct_hash(k, w) >> ct->hash_shift;
	for (n = 0; n < ct->capacity; n++) {
		s = &ct->slots[i];
		if (s->gen != ct->gen)
			break;
		if (pfs_ct_key_eq(s, w)) {
			if (pfs_ct_expired(ct, s)) {
				ct->expired++;
				pfs_ct_delete(ct, i);
				break;
			}
			if (pkt->proto == 6 && (s->bits & PFS_CT_CLOSING) &&
			    (pkt->flags & (PF_PKT_F_SYN | PF_PKT_F_ACK)) == PF_PKT_F_SYN) {
				pfs_ct_delete(ct, i);
				break;
			}
			reply = pfs_ct_from_a(k, pkt) != !!(s->bits & PFS_CT_ORIG_A);
			pfs_ct_touch(ct, i, pkt->proto, pkt->flags, reply);
			found = 1;
			break;
		}
		i = (i + 1) & ct->mask;
	}
out:
	return found;
}

/* pfs_ct_make_room - 1 when one more entry fits (sweeping, then dropping early), else 0 */
static __always_inline int pfs_ct_make_room(struct pfs_conntrack *ct)
{
	if (ct->count < ct->max)
		return 1;
	if (!ct->swept || ct->swept_at != ct->now)
		pfs_ct_sweep(ct);
	if (ct->count < ct->max)
		return 1;
	if (ct->head == PFS_CT_NIL)
		return 0;
	ct->early_drops++;
	pfs_ct_delete(ct, (__u32)ct->head);
	return 1;
}

/*
 * pfs_ct_insert - tracks pkt's connection (key k, not in the table) from this first packet.
 * When the table is full and nothing can go, sets ct->refused: the packet is to be dropped.
 */
static __always_inline void pfs_ct_insert(struct pfs_conntrack *ct, const struct pf_ct_key *k,
					  const struct pf_pkt *pkt)
{
	struct pfs_ct_slot *s;
	__u64 w[5];
	__u32 i, n, h, t;
	__u8 bits = 0;

	ct->refused = 0;
	t = pfs_ct_step(pkt->proto, pkt->flags, 0, &bits);
	if (t == PFS_CT_KILL)
		goto out;
	if (!pfs_ct_make_room(ct)) {
		ct->insert_failed++;
		ct->refused = 1;
		goto out;
	}
	h = pfs_ct_hash(k, w);
	i = h >> ct->hash_shift;
	for (n = 0; n < ct->capacity; n++) {
		s = &ct->slots[i];
		if (s->gen != ct->gen) {
			memcpy(&s->key, w, 40);
			s->hash = h;
			s->expires = ct->now + t;
			s->bits = bits | (pfs_ct_from_a(k, pkt) ? PFS_CT_ORIG_A : 0);
			s->gen = ct->gen;
			ct->count++;
			if (!(bits & PFS_CT_ASSURED))
				pfs_ct_link(ct, i);
			break;
		}
		if (pfs_ct_key_eq(s, w))
			break;
		i = (i + 1) & ct->mask;
	}
out:
	return;
}

#endif /* PFSIM_CONNTRACK_H */
