// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_classify.c - libFuzzer target for the maps classifier (native/src/classifier.c with
 * lpm, podmap, conntrack and the shared decision in pfsim_classify.h): arbitrary struct pf_pkt
 * records judged against one fixed compiled layout, every verdict checked against a naive
 * reference written here (linear scans over pods, keys and port entries).
 *
 * Built twice by scripts/fuzz.sh: `classify` as the addon judges small layouts (lookups from
 * the hooks) and `classify_grouped` with PFS_WALK_BYTES=0, so every batch takes the grouped
 * path (lookups resolved ahead with the cursor walks) that large layouts take.
 *
 * Input: records of 44 bytes, `steering (4), struct pf_pkt (40)`. The steering bytes may put
 * a pod address, a prefix boundary, a listed protocol or a listed port in place of the raw
 * bytes, so that records reach pods, tries and port ranges. Checked besides memory safety
 * and UB:
 *   - stateless: verdict, reason and both entry ids equal the reference for every record;
 *   - stateful: a record is either the reference's verdict, or "established" for a connection
 *     an earlier allowed record could open (conntrack never lets through what was not
 *     opened), or "table full" for a connection the reference allows once CT_MAX earlier
 *     records have opened connections; judging the records in one batch or in pieces gives
 *     the same output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "fuzz_input.h"

#define OUT_WORDS 4
#define MAX_RECS 256u
#define CT_CAPACITY 64u
/* entries the classifier keeps at most for that capacity (conntrack.c: 7/8 of the slots) */
#define CT_MAX (CT_CAPACITY - CT_CAPACITY / 8)

static const uint8_t V4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

struct ref_pod {
	uint8_t addr[16];
	uint32_t id;
	uint8_t ingress;
	uint8_t egress;
};

struct ref_key {
	uint32_t trie;
	uint32_t len;
	uint8_t addr[16];
	uint32_t value;
};

/* addresses written as {mapped?, bytes}: IPv4 gets its ::ffff:0:0/96 prefix at init */
#define A4(a, b, c, d) { 1, { a, b, c, d } }
#define A6(...) { 0, { __VA_ARGS__ } }
struct addr_spec {
	int v4;
	uint8_t b[16];
};

static const struct { struct addr_spec a; uint32_t id; uint8_t in, eg; } pod_spec[] = {
	{ A4(10, 0, 0, 1), 0, 1, 1 },
	{ A4(10, 0, 0, 2), 1, 1, 0 },
	{ A4(10, 0, 0, 3), 2, 0, 1 },
	{ A4(10, 0, 0, 4), 3, 0, 0 },
	{ A6(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 4, 1, 1 },
	{ A6(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), 5, 1, 0 },
};
#define N_PODS (sizeof(pod_spec) / sizeof(pod_spec[0]))
#define N_TRIES 12u

/* prefix lengths are of the 128-bit key: an IPv4 /n is /(96 + n) */
static const struct { uint32_t trie, len; struct addr_spec a; uint32_t value; } key_spec[] = {
	{ 0, 96, A4(0, 0, 0, 0), 1 },
	{ 0, 104, A4(10, 0, 0, 0), 2 },
	{ 0, 120, A4(10, 0, 5, 0), 0 },
	{ 0, 121, A4(10, 0, 5, 128), 3 },
	{ 0, 0, A6(0), 5 },
	{ 0, 16, A6(0xfd, 0), 4 },
	{ 1, 120, A4(10, 0, 0, 0), 3 },
	{ 1, 128, A4(10, 0, 0, 1), 0 },
	{ 1, 128, A6(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), 6 },
	{ 1, 112, A4(192, 168, 0, 0), 5 },
	{ 2, 104, A4(10, 0, 0, 0), 4 },
	{ 5, 0, A6(0), 1 },
	{ 5, 104, A4(10, 0, 0, 0), 5 },
	{ 5, 104, A4(10, 0, 0, 0), 3 },	/* the same prefix again: the later wins */
	{ 8, 64, A6(0xfd, 0), 2 },
	{ 8, 128, A6(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 3 },
	{ 8, 104, A4(10, 0, 0, 0), 6 },
	{ 10, 8, A6(0xfd, 0), 5 },
	{ 10, 127, A4(10, 0, 0, 2), 1 },
};
#define N_KEYS (sizeof(key_spec) / sizeof(key_spec[0]))

#define N_VALUES 7u
#define V4_ENTRIES 30u

static struct ref_pod pods[N_PODS];
static struct ref_key keys[N_KEYS];
static struct pf_lpm_val values[N_VALUES];
static struct pf_port_entry ext[V4_ENTRIES - PF_VALUE_SLOTS];
static struct pfs_classifier *cls;

/* addresses and ports the steering bytes pick from: pods, prefix edges, port range edges */
static uint8_t palette[128][16];
static uint32_t n_palette;
static const uint16_t ports[] = { 0, 1, 53, 80, 443, 1000, 1005, 1009, 1010, 1019, 1020,
				  1024, 1025, 1380, 1389, 1390, 1580, 1589, 8079, 8080, 8090,
				  8091, 65535 };
static const uint8_t protos[] = { 6, 17, 132, 1, 58, 0, 255, 47 };

static void spec_addr(const struct addr_spec *s, uint8_t *out)
{
	if (s->v4) {
		memcpy(out, V4, 12);
		memcpy(out + 12, s->b, 4);
	} else {
		memcpy(out, s->b, 16);
	}
}

static void put_entry(struct pf_port_entry *e, uint8_t proto, uint16_t start, uint16_t end)
{
	memset(e, 0, sizeof(*e));
	e->proto = proto;
	e->start = start;
	e->end = end;
}

/*
 * values as the compiler writes them: sorted by (proto, start), merged. v0 an except hole,
 * v4 spills into the extension pool, v5 ends in an ANY entry that is not every port.
 */
static void build_values(void)
{
	uint32_t j;

	memset(values, 0, sizeof(values));
	values[1].count = 1;
	put_entry(&values[1].e[0], 6, 80, 80);
	values[2].count = 2;
	put_entry(&values[2].e[0], 6, 53, 53);
	put_entry(&values[2].e[1], 17, 53, 53);
	values[3].count = 1;
	put_entry(&values[3].e[0], PF_PROTO_ANY, 0, 65535);
	values[4].count = V4_ENTRIES;
	values[4].ext = 0;
	for (j = 0; j < V4_ENTRIES; j++) {
		struct pf_port_entry *e = j < PF_VALUE_SLOTS ? &values[4].e[j]
							   : &ext[j - PF_VALUE_SLOTS];

		put_entry(e, j < 20 ? 6 : 17, (uint16_t)(1000 + 20 * j), (uint16_t)(1009 + 20 * j));
	}
	values[5].count = 3;
	put_entry(&values[5].e[0], 6, 443, 443);
	put_entry(&values[5].e[1], 17, 1, 1024);
	put_entry(&values[5].e[2], PF_PROTO_ANY, 8080, 8090);
	values[6].count = 1;
	put_entry(&values[6].e[0], 6, 0, 65535);
}

static void add_palette(const uint8_t *a)
{
	if (n_palette < 128)
		memcpy(palette[n_palette++], a, 16);
}

/* every key's first and last address and the ones just outside */
static void build_palette(void)
{
	uint8_t a[16];
	uint32_t i, k;
	int j;

	for (i = 0; i < N_PODS; i++)
		add_palette(pods[i].addr);
	for (i = 0; i < N_KEYS && n_palette + 4 <= 128; i++) {
		for (k = 0; k < 4; k++) {
			memcpy(a, keys[i].addr, 16);
			for (j = 0; j < 128; j++) {
				if ((uint32_t)j < keys[i].len)
					continue;
				if (k & 1)
					a[j / 8] |= (uint8_t)(0x80 >> (j % 8));
			}
			/* k 2: one below the first address, k 3: one past the last */
			for (j = 15; k == 2 && j >= 0; j--)
				if (a[j]-- != 0)
					break;
			for (j = 15; k == 3 && j >= 0; j--)
				if (++a[j] != 0)
					break;
			add_palette(a);
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static uint8_t pod_addrs[N_PODS * 16], entry_keys[N_KEYS * 20];
	static uint32_t pod_states[N_PODS * 2], entry_tries[N_KEYS], entry_values[N_KEYS];
	struct pf_load_arrays a;
	struct pfs_load_err err;
	uint32_t i;

	(void)argc;
	(void)argv;
	build_values();
	for (i = 0; i < N_PODS; i++) {
		spec_addr(&pod_spec[i].a, pods[i].addr);
		pods[i].id = pod_spec[i].id;
		pods[i].ingress = pod_spec[i].in;
		pods[i].egress = pod_spec[i].eg;
		memcpy(pod_addrs + 16 * i, pods[i].addr, 16);
		pod_states[2 * i] = pods[i].id;
		pod_states[2 * i + 1] = pods[i].ingress | (uint32_t)pods[i].egress << 8;
	}
	for (i = 0; i < N_KEYS; i++) {
		keys[i].trie = key_spec[i].trie;
		keys[i].len = key_spec[i].len;
		keys[i].value = key_spec[i].value;
		spec_addr(&key_spec[i].a, keys[i].addr);
		memcpy(entry_keys + 20 * i, &keys[i].len, 4);
		memcpy(entry_keys + 20 * i + 4, keys[i].addr, 16);
		entry_tries[i] = keys[i].trie;
		entry_values[i] = keys[i].value;
	}
	build_palette();
	memset(&a, 0, sizeof(a));
	a.pod_addrs = pod_addrs;
	a.pod_states = pod_states;
	a.pod_count = N_PODS;
	a.trie_count = N_TRIES;
	a.entry_keys = entry_keys;
	a.entry_tries = entry_tries;
	a.entry_values = entry_values;
	a.entry_count = N_KEYS;
	a.values = (const uint8_t *)values;
	a.value_count = N_VALUES;
	a.ext = (const uint8_t *)ext;
	a.ext_count = V4_ENTRIES - PF_VALUE_SLOTS;
	FZ_CHECK(pfs_classifier_new(CT_CAPACITY, &cls) == 0, "pfs_classifier_new");
	FZ_CHECK(pfs_classifier_load(cls, &a, &err) == 0, "load: %s[%llu]: %s", err.arg,
		 (unsigned long long)err.index, err.what);
	return 0;
}

/* --- the reference: linear scans, no shortcuts ---------------------------------------- */

static const struct ref_pod *ref_pod(const uint8_t *addr)
{
	uint32_t i;

	for (i = 0; i < N_PODS; i++)
		if (!memcmp(pods[i].addr, addr, 16))
			return &pods[i];
	return NULL;
}

static int covers(const struct ref_key *k, const uint8_t *addr)
{
	uint32_t bit;

	for (bit = 0; bit < k->len; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		if ((k->addr[bit / 8] & m) != (addr[bit / 8] & m))
			return 0;
	}
	return 1;
}

/* the key of trie covering addr with the longest prefix, the later of equals; -1 for none */
static int ref_lpm(uint32_t trie, const uint8_t *addr)
{
	int best = -1;
	uint32_t i;

	for (i = 0; i < N_KEYS; i++) {
		if (keys[i].trie != trie || !covers(&keys[i], addr))
			continue;
		if (best < 0 || keys[i].len >= keys[best].len)
			best = (int)i;
	}
	return best;
}

static int ref_ports(const struct pf_lpm_val *v, uint8_t proto, uint16_t port)
{
	const struct pf_port_entry *e;
	uint32_t i;

	for (i = 0; i < v->count; i++) {
		e = i < PF_VALUE_SLOTS ? &v->e[i] : &ext[v->ext + i - PF_VALUE_SLOTS];
		if ((e->proto == proto || e->proto == PF_PROTO_ANY) && e->start <= port &&
		    port <= e->end)
			return 1;
	}
	return 0;
}

/* one side: 0 when it lets the packet through; *id the key found */
static int ref_side(const struct ref_pod *p, int ingress, const uint8_t *peer,
		    const struct pf_pkt *pkt, uint32_t *id)
{
	int k;

	k = ref_lpm(p->id * 2 + (ingress ? PF_DIR_INGRESS : PF_DIR_EGRESS), peer);
	if (k >= 0)
		*id = (uint32_t)k;
	return k < 0 || !ref_ports(&values[keys[k].value], pkt->proto, pkt->dport);
}

static void ref_classify(const struct pf_pkt *pkt, uint32_t *out)
{
	const struct ref_pod *p;

	out[0] = PF_VERDICT_ALLOW;
	out[1] = PF_REASON_NOT_ISOLATED;
	out[2] = out[3] = PF_NO_ENTRY;
	p = ref_pod(pkt->saddr);
	if (p && p->egress) {
		if (ref_side(p, 0, pkt->daddr, pkt, &out[2])) {
			out[0] = PF_VERDICT_DENY;
			out[1] = PF_REASON_DENY_EGRESS;
			return;
		}
		out[1] = PF_REASON_POLICY;
	}
	p = ref_pod(pkt->daddr);
	if (p && p->ingress) {
		if (ref_side(p, 1, pkt->saddr, pkt, &out[3])) {
			out[0] = PF_VERDICT_DENY;
			out[1] = PF_REASON_DENY_INGRESS;
			return;
		}
		out[1] = PF_REASON_POLICY;
	}
}

/* the connection of a packet, the same for both directions: the lower {addr, port} first */
struct conn {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t proto;
};

static void conn_of(const struct pf_pkt *p, struct conn *c)
{
	int d = memcmp(p->saddr, p->daddr, 16);
	int src_first = d < 0 || (d == 0 && p->sport <= p->dport);

	memset(c, 0, sizeof(*c));
	memcpy(c->a, src_first ? p->saddr : p->daddr, 16);
	memcpy(c->b, src_first ? p->daddr : p->saddr, 16);
	c->pa = src_first ? p->sport : p->dport;
	c->pb = src_first ? p->dport : p->sport;
	c->proto = p->proto;
}

static int conn_eq(const struct conn *x, const struct conn *y)
{
	return !memcmp(x->a, y->a, 16) && !memcmp(x->b, y->b, 16) && x->pa == y->pa &&
	       x->pb == y->pb && x->proto == y->proto;
}

/* netfilter's TCP pickup: a SYN or a plain ACK opens; SYN-ACK, FIN, RST do not */
static int ref_can_open(const struct pf_pkt *p)
{
	uint8_t f = p->flags;

	if (p->proto != 6)
		return 1;
	if (f & (PF_PKT_F_FIN | PF_PKT_F_RST))
		return 0;
	if (f & PF_PKT_F_SYN)
		return !(f & PF_PKT_F_ACK);
	return (f & PF_PKT_F_ACK) != 0;
}

/* --- the target ------------------------------------------------------------------------ */

static void steer(const uint8_t *s, struct pf_pkt *p)
{
	if (s[0] < 2 * n_palette)
		memcpy(p->saddr, palette[s[0] % n_palette], 16);
	if (s[1] < 2 * n_palette)
		memcpy(p->daddr, palette[s[1] % n_palette], 16);
	if (s[2] & 0x80)
		p->proto = protos[s[2] % sizeof(protos)];
	if (s[3] & 0x80) {
		p->dport = ports[s[3] % (sizeof(ports) / sizeof(ports[0]))];
		p->sport = ports[(s[3] >> 2) % (sizeof(ports) / sizeof(ports[0]))];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct pf_pkt pkts[MAX_RECS];
	static uint32_t out[MAX_RECS * OUT_WORDS], again[MAX_RECS * OUT_WORDS], want[OUT_WORDS];
	static struct conn opened[MAX_RECS], c;
	struct fz_in in = { data, len };
	uint32_t n = 0, i, j, nopened = 0, piece;
	uint8_t s[4];
	int found;

	while (fz_left(&in) >= 44 && n < MAX_RECS) {
		fz_bytes(&in, s, 4);
		fz_bytes(&in, &pkts[n], sizeof(pkts[n]));
		steer(s, &pkts[n]);
		n++;
	}

	/* stateless: exactly the reference */
	pfs_classify_batch(cls, pkts, n, out, 0);
	for (i = 0; i < n; i++) {
		ref_classify(&pkts[i], want);
		FZ_CHECK(!memcmp(want, out + OUT_WORDS * i, sizeof(want)),
			 "record %u: verdict %u reason %u ids %u %u, reference %u %u %u %u", i,
			 out[OUT_WORDS * i], out[OUT_WORDS * i + 1], out[OUT_WORDS * i + 2],
			 out[OUT_WORDS * i + 3], want[0], want[1], want[2], want[3]);
	}

	/* stateful: the reference, or established for what an earlier record opened */
	pfs_classifier_reset_ct(cls);
	pfs_classify_batch(cls, pkts, n, out, 1);
	for (i = 0; i < n; i++) {
		const uint32_t *o = out + OUT_WORDS * i;

		conn_of(&pkts[i], &c);
		if (o[1] == PF_REASON_ESTABLISHED) {
			for (found = 0, j = 0; j < nopened && !found; j++)
				found = conn_eq(&opened[j], &c);
			FZ_CHECK(found, "record %u established, but no earlier record opened it", i);
			FZ_CHECK(o[0] == PF_VERDICT_ALLOW && o[2] == PF_NO_ENTRY &&
				 o[3] == PF_NO_ENTRY, "record %u: established with %u %u %u", i,
				 o[0], o[2], o[3]);
			continue;
		}
		ref_classify(&pkts[i], want);
		if (o[1] == PF_REASON_CT_FULL) {
			/* assured connections fill the table: netfilter drops a new one's packet */
			FZ_CHECK(nopened >= CT_MAX && o[0] == PF_VERDICT_DENY &&
					 want[0] == PF_VERDICT_ALLOW && ref_can_open(&pkts[i]),
				 "record %u: table full with %u connections opened", i, nopened);
			continue;
		}
		FZ_CHECK(!memcmp(want, o, sizeof(want)), "stateful record %u differs", i);
		if (o[0] == PF_VERDICT_ALLOW && ref_can_open(&pkts[i]))
			opened[nopened++] = c;
	}

	/* the same records in pieces of 1..16: the same output */
	pfs_classifier_reset_ct(cls);
	for (i = 0; i < n; i += piece) {
		piece = 1 + (i < n ? pkts[i].saddr[15] % 16 : 0);
		if (piece > n - i)
			piece = n - i;
		pfs_classify_batch(cls, pkts + i, piece, again + OUT_WORDS * i, 1);
	}
	FZ_CHECK(!memcmp(out, again, sizeof(uint32_t) * OUT_WORDS * n),
		 "a batch in pieces judges differently");
	pfs_classifier_reset_ct(cls);
	return 0;
}
