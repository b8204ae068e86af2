// SPDX-License-Identifier: MIT
/* Node IPAM: uniqueness under concurrency, idempotence, exhaustion,
 * release, and state that survives a restart. */
#include "test.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "ipam/ipam.h"

static char dir[64];

static void fresh_dir(void)
{
	char cmd[128];

	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
		}
	}
	snprintf(dir, sizeof(dir), "/tmp/weft-ipam-test.XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static const char *str(const struct ipam_prefix *p)
{
	static char buf[4][64];
	static int i;

	return ipam_prefix_str(p, buf[i++ % 4], sizeof(buf[0]));
}

TEST(ipam_basics_and_exhaustion)
{
	struct ipam ipam;
	struct ipam_lease l, again;
	char err[200], id[16];

	fresh_dir();
	CHECK(ipam_open(&ipam, dir, "10.9.0.0/29", "fd09::/125", err, sizeof(err)) == 0);
	CHECK(ipam_alloc(&ipam, "c1", "eth0", &l) == 0);
	CHECK(!strcmp(str(&l.addr[0]), "10.9.0.2/29") && !strcmp(str(&l.gateway[0]), "10.9.0.1/29"));
	CHECK(!strcmp(str(&l.addr[1]), "fd09::2/125") && !strcmp(str(&l.gateway[1]), "fd09::1/125"));
	/* Asking again gives the same. */
	CHECK(ipam_alloc(&ipam, "c1", "eth0", &again) == 0 && !memcmp(&l, &again, sizeof(l)));
	/* Another interface of the same container is another allocation. */
	CHECK(ipam_alloc(&ipam, "c1", "net1", &again) == 0 && strcmp(str(&again.addr[0]), str(&l.addr[0])));
	/* .2 .. .6 usable in a /29 (network, gateway and broadcast are not). */
	for (int i = 0; i < 3; ++i) {
		snprintf(id, sizeof(id), "x%d", i);
		CHECK(ipam_alloc(&ipam, id, "eth0", &again) == 0);
	}
	CHECK(ipam_alloc(&ipam, "full", "eth0", &again) == -ENOSPC);
	CHECK(ipam_find(&ipam, "full", "eth0", &again) == -ENOENT);
	CHECK(ipam_release(&ipam, "x1", "eth0") == 0);
	CHECK(ipam_release(&ipam, "x1", "eth0") == 0); /* twice is fine */
	CHECK(ipam_alloc(&ipam, "late", "eth0", &again) == 0);
	CHECK(ipam_alloc(&ipam, "bad/id", "eth0", &again) == -EINVAL);
	ipam_close(&ipam);

	/* A restart finds every allocation. */
	CHECK(ipam_open(&ipam, dir, "10.9.0.0/29", "fd09::/125", err, sizeof(err)) == 0);
	CHECK(ipam_find(&ipam, "c1", "eth0", &again) == 0 && !memcmp(&l, &again, sizeof(l)));
	CHECK(ipam_find(&ipam, "late", "eth0", &again) == 0);
	CHECK(ipam_alloc(&ipam, "full", "eth0", &again) == -ENOSPC);
	ipam_close(&ipam);

	CHECK(ipam_open(&ipam, dir, "10.9.0.0/33", NULL, err, sizeof(err)) == -EINVAL && strstr(err, "10.9.0.0/33"));
	CHECK(ipam_open(&ipam, dir, NULL, NULL, err, sizeof(err)) == -EINVAL);
}

TEST(ipam_release_then_no_immediate_reuse)
{
	struct ipam ipam;
	struct ipam_lease a, b;
	char err[200];

	fresh_dir();
	CHECK(ipam_open(&ipam, dir, "10.9.1.0/24", NULL, err, sizeof(err)) == 0);
	CHECK(ipam_alloc(&ipam, "a", "eth0", &a) == 0);
	CHECK(ipam_release(&ipam, "a", "eth0") == 0);
	CHECK(ipam_alloc(&ipam, "b", "eth0", &b) == 0);
	/* A freed address rests while others are free, so a late packet for
	 * the old container does not reach the new one. */
	CHECK(a.addr[0].addr.v4.s_addr != b.addr[0].addr.v4.s_addr);
	ipam_close(&ipam);
}

enum { THREADS = 8, EACH = 25 };
static struct ipam shared;
static uint32_t got[THREADS][EACH];

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	char id[32];

	for (int i = 0; i < EACH; ++i) {
		struct ipam_lease l;

		snprintf(id, sizeof(id), "t%d-%d", t, i);
		got[t][i] = ipam_alloc(&shared, id, "eth0", &l) ? 0 : l.addr[0].addr.v4.s_addr;
	}
	return NULL;
}

TEST(ipam_concurrent_allocations_are_unique)
{
	pthread_t th[THREADS];
	char err[200];

	fresh_dir();
	CHECK(ipam_open(&shared, dir, "10.9.2.0/24", NULL, err, sizeof(err)) == 0);
	for (int t = 0; t < THREADS; ++t)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	for (int t = 0; t < THREADS; ++t)
		pthread_join(th[t], NULL);
	for (int a = 0; a < THREADS * EACH; ++a) {
		uint32_t x = got[a / EACH][a % EACH];

		CHECK(x != 0);
		for (int b = a + 1; b < THREADS * EACH; ++b)
			if (x == got[b / EACH][b % EACH]) {
				CHECK(!"one address given twice");
				break;
			}
	}
	ipam_close(&shared);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
		}
	}
}

/* Address by address, as Docker's IPAM API asks: a given address, one
 * inside a range, the owner, a new owner, a release by address. */
TEST(ipam_claim_by_address)
{
	struct ipam ipam;
	struct ipam_prefix want, within, res, gw;
	struct ipam_lease l;
	char err[200], id[64], ifname[64];

	fresh_dir();
	CHECK(ipam_open(&ipam, dir, "10.9.0.0/24", "fd09::/64", err, sizeof(err)) == 0);
	CHECK(ipam_gateway(&ipam, AF_INET, &gw) == 0 && !strcmp(str(&gw), "10.9.0.1/24"));
	ipam_prefix_parse(&want, "10.9.0.77/32");
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "t1", &want, NULL, &res) == 0 && !strcmp(str(&res), "10.9.0.77/24"));
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "t2", &want, NULL, &res) == -EADDRINUSE);
	ipam_prefix_parse(&want, "10.9.0.1/32"); /* the gateway */
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "t2", &want, NULL, &res) == -EINVAL);
	ipam_prefix_parse(&want, "10.9.0.255/32"); /* broadcast */
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "t2", &want, NULL, &res) == -EINVAL);
	ipam_prefix_parse(&want, "10.8.0.5/32"); /* outside */
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "t2", &want, NULL, &res) == -EINVAL);
	/* Inside a range: 10.9.0.252/30 holds .252 to .255, and .255 is the
	 * broadcast address: three, then full. */
	ipam_prefix_parse(&within, "10.9.0.252/30");
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "r1", NULL, &within, &res) == 0 && !strcmp(str(&res), "10.9.0.252/24"));
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "r2", NULL, &within, &res) == 0 && !strcmp(str(&res), "10.9.0.253/24"));
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "r3", NULL, &within, &res) == 0 && !strcmp(str(&res), "10.9.0.254/24"));
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "r4", NULL, &within, &res) == -ENOSPC);
	ipam_prefix_parse(&within, "10.10.0.0/30");
	CHECK(ipam_claim(&ipam, AF_INET, "docker", "r4", NULL, &within, &res) == -EINVAL);
	/* IPv6, any address. */
	CHECK(ipam_claim(&ipam, AF_INET6, "docker", "t3", NULL, NULL, &res) == 0 && !strcmp(str(&res), "fd09::2/64"));
	/* Owner, new owner (then found as that attachment's lease), release. */
	ipam_prefix_parse(&want, "10.9.0.77/32");
	CHECK(ipam_owner(&ipam, &want, id, sizeof(id), ifname, sizeof(ifname)) == 0 && !strcmp(id, "docker") &&
	      !strcmp(ifname, "t1"));
	CHECK(ipam_rekey(&ipam, &want, "ep1", "docker") == 0);
	CHECK(ipam_rekey(&ipam, &res, "ep1", "docker") == 0);
	CHECK(ipam_find(&ipam, "ep1", "docker", &l) == 0 && !strcmp(str(&l.addr[0]), "10.9.0.77/24") &&
	      !strcmp(str(&l.addr[1]), "fd09::2/64"));
	CHECK(ipam_alloc(&ipam, "ep1", "docker", &l) == 0 && !strcmp(str(&l.addr[0]), "10.9.0.77/24")); /* the same */
	CHECK(ipam_release_addr(&ipam, &want) == 0);
	CHECK(ipam_release_addr(&ipam, &want) == -ENOENT);
	CHECK(ipam_owner(&ipam, &want, id, sizeof(id), ifname, sizeof(ifname)) == -ENOENT);
	CHECK(ipam_rekey(&ipam, &want, "ep1", "docker") == -ENOENT);
	ipam_close(&ipam);
}
