/*
 * pfsim-pktio: injects Ethernet frames on an interface in one network namespace and reports
 * which of them arrive on an interface in another.
 *
 * usage: pfsim-pktio SRC_NETNS_PATH SRC_IF DST_NETNS_PATH DST_IF TTL QUIET_MS MAX_MS
 * stdin:  records of a u16 big-endian length and that many frame bytes; record i carries
 *         id i in its IPv4 identification or IPv6 flow label and TTL/hop limit TTL.
 * stdout: one '0' or '1' per record (arrived), then a newline; then the nanoseconds the send
 *         loop took, then a newline. Sending to a veth runs the receiving side's stack (the
 *         node's forwarding, its netfilter hooks and tc programs) in the sender's softirq, so
 *         that time is the kernel's cost of the whole path, without process start-up or the
 *         wait for stragglers.
 * An arrival is an IPv4/IPv6 frame on DST_IF whose TTL is TTL - 1 (forwarded once) and whose
 * id is in range. Exit 0 on success, 1 on any error (message on stderr), 2 on receive drops.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RECORDS 65536

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long long now_ms(void)
{
	return now_ns() / 1000000;
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static unsigned char *read_all(size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	ssize_t r;

	while (buf) {
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* returns the record id carried by an arrived frame, or -1 for noise */
static long frame_id(const unsigned char *f, ssize_t len, int ttl)
{
	unsigned type;

	if (len < 14 + 20)
		return -1;
	type = ((unsigned)f[12] << 8) | f[13];
	if (type == ETH_P_IP && (f[14] >> 4) == 4 && f[14 + 8] == ttl - 1)
		return ((long)f[14 + 4] << 8) | f[14 + 5];
	if (type == ETH_P_IPV6 && len >= 14 + 40 && (f[14] >> 4) == 6 && f[14 + 7] == ttl - 1)
		return ((long)(f[15] & 0x0f) << 16) | ((long)f[16] << 8) | f[17];
	return -1;
}

/* reads every queued frame without blocking; returns how many new ids arrived */
static int drain(int fd, char *seen, long n, int ttl)
{
	unsigned char f[2048];
	struct sockaddr_ll from;
	socklen_t fl;
	ssize_t r;
	long id;
	int got = 0;

	for (;;) {
		fl = sizeof(from);
		r = recvfrom(fd, f, sizeof(f), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (r < 0)
			break;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		id = frame_id(f, r, ttl);
		if (id >= 0 && id < n && seen[id] == '0') {
			seen[id] = '1';
			got++;
		}
	}
	return got;
}

int main(int argc, char **argv)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	struct sockaddr_ll at = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct tpacket_stats st;
	socklen_t stl = sizeof(st);
	unsigned char *in = NULL;
	char *seen = NULL;
	size_t inlen = 0, off;
	long n = 0, arrived = 0;
	long long last, start, send_ns;
	int rx = -1, tx = -1, ttl, quiet, maxms, rcvbuf = 32 << 20, err, ret = 1;

	if (argc != 8) {
		fprintf(stderr, "usage: pfsim-pktio SRC_NETNS SRC_IF DST_NETNS DST_IF TTL QUIET_MS MAX_MS\n");
		goto cleanup;
	}
	ttl = atoi(argv[5]);
	quiet = atoi(argv[6]);
	maxms = atoi(argv[7]);
	if (ttl < 2 || ttl > 255 || quiet < 1 || maxms < quiet) {
		fprintf(stderr, "pfsim-pktio: bad TTL, QUIET_MS or MAX_MS\n");
		goto cleanup;
	}
	in = read_all(&inlen);
	if (!in) {
		fprintf(stderr, "pfsim-pktio: read stdin: %s\n", strerror(errno));
		goto cleanup;
	}
	/* count and bounds-check the records before touching the network */
	for (off = 0; off < inlen; n++) {
		size_t fl;

		if (off + 2 > inlen || n >= MAX_RECORDS) {
			fprintf(stderr, "pfsim-pktio: record %ld: truncated or too many records\n", n);
			goto cleanup;
		}
		fl = ((size_t)in[off] << 8) | in[off + 1];
		if (fl < 14 || off + 2 + fl > inlen) {
			fprintf(stderr, "pfsim-pktio: record %ld: bad length %zu\n", n, fl);
			goto cleanup;
		}
		off += 2 + fl;
	}
	seen = malloc((size_t)n + 2);
	if (!seen)
		goto cleanup;
	memset(seen, '0', (size_t)n);

	/* sockets stay in the namespace they were made in */
	err = enter_netns(argv[3]);
	if (err) {
		fprintf(stderr, "pfsim-pktio: enter %s: %s\n", argv[3], strerror(-err));
		goto cleanup;
	}
	rx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	at.sll_ifindex = (int)if_nametoindex(argv[4]);
	if (rx < 0 || at.sll_ifindex == 0) {
		fprintf(stderr, "pfsim-pktio: receive socket on %s: %s\n", argv[4], strerror(errno));
		goto cleanup;
	}
	if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(rx, (struct sockaddr *)&at, sizeof(at)) < 0) {
		fprintf(stderr, "pfsim-pktio: bind %s: %s\n", argv[4], strerror(errno));
		goto cleanup;
	}
	err = enter_netns(argv[1]);
	if (err) {
		fprintf(stderr, "pfsim-pktio: enter %s: %s\n", argv[1], strerror(-err));
		goto cleanup;
	}
	tx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	to.sll_ifindex = (int)if_nametoindex(argv[2]);
	if (tx < 0 || to.sll_ifindex == 0) {
		fprintf(stderr, "pfsim-pktio: send socket on %s: %s\n", argv[2], strerror(errno));
		goto cleanup;
	}
	/* whatever was queued before the first frame is noise */
	drain(rx, seen, 0, ttl);
	start = now_ms();
	send_ns = now_ns();
	for (off = 0; off < inlen;) {
		size_t fl = ((size_t)in[off] << 8) | in[off + 1];
		const unsigned char *f = in + off + 2;
		ssize_t w;

		memcpy(to.sll_addr, f, 6);
		to.sll_protocol = htons((uint16_t)(((unsigned)f[12] << 8) | f[13]));
		w = sendto(tx, f, fl, 0, (struct sockaddr *)&to, sizeof(to));
		if (w < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)) {
			/* back off and retry the same frame */
			usleep(200);
			arrived += drain(rx, seen, n, ttl);
			continue;
		}
		if (w < 0) {
			fprintf(stderr, "pfsim-pktio: send: %s\n", strerror(errno));
			goto cleanup;
		}
		off += 2 + fl;
		arrived += drain(rx, seen, n, ttl);
	}
	send_ns = now_ns() - send_ns;
	/* wait until nothing more arrives for QUIET_MS, at most MAX_MS in all */
	last = now_ms();
	while (arrived < n) {
		struct pollfd p = { .fd = rx, .events = POLLIN };
		long long t = now_ms();
		int got;

		if (t - last >= quiet || t - start >= maxms)
			break;
		if (poll(&p, 1, (int)(quiet - (t - last))) > 0) {
			got = drain(rx, seen, n, ttl);
			if (got) {
				arrived += got;
				last = now_ms();
			}
		}
	}
	seen[n] = '\n';
	seen[n + 1] = 0;
	fputs(seen, stdout);
	printf("%lld\n", send_ns);
	ret = 0;
	if (getsockopt(rx, SOL_PACKET, PACKET_STATISTICS, &st, &stl) == 0 && st.tp_drops) {
		fprintf(stderr, "pfsim-pktio: receive socket dropped %u frames\n", st.tp_drops);
		ret = 2;
	}
cleanup:
	if (rx >= 0)
		close(rx);
	if (tx >= 0)
		close(tx);
	free(seen);
	free(in);
	return ret;
}
