// SPDX-License-Identifier: Apache-2.0
/*
 * libpcap-read.c - the baseline of bench/pcap-read.ts: libpcap's own pcap_next_ex loop over a
 * capture file, touching each packet's first byte so the loop does what a reader must.
 * Compiled by the benchmark at run time: cc -O2 bench/libpcap-read.c -lpcap.
 *
 *   libpcap-read FILE RUNS
 *
 * Opens and reads the whole file RUNS times; prints one line per run, "PACKETS SECONDS", then
 * "sum N" (the touched bytes, so nothing is optimised away). Exits 1 on any libpcap error.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned long long n, sum = 0;
	pcap_t *p = NULL;
	int runs, r, rc, ret = 1;
	double t0;

	if (argc != 3 || (runs = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s FILE RUNS\n", argv[0]);
		goto out;
	}
	for (r = 0; r < runs; r++) {
		t0 = now();
		p = pcap_open_offline(argv[1], err);
		if (!p) {
			fprintf(stderr, "%s: %s\n", argv[1], err);
			goto out;
		}
		n = 0;
		while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
			sum += data[0];
			n++;
		}
		if (rc != PCAP_ERROR_BREAK) {
			fprintf(stderr, "%s: %s\n", argv[1], pcap_geterr(p));
			goto out;
		}
		pcap_close(p);
		p = NULL;
		printf("%llu %.9f\n", n, now() - t0);
	}
	printf("sum %llu\n", sum);
	ret = 0;
out:
	if (p)
		pcap_close(p);
	return ret;
}
