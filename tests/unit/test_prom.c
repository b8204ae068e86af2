// SPDX-License-Identifier: MIT
/* The Prometheus text format writer (lib/metrics). */
#include "test.h"

#include <errno.h>
#include <math.h>

#include "metrics/prom.h"

static bool text_is(struct buf *b, const char *want)
{
	bool ok = b->len == strlen(want) && !memcmp(b->data, want, b->len);

	if (!ok)
		fprintf(stderr, "  got:\n%.*s  want:\n%s", (int)b->len, b->data, want);
	return ok;
}

TEST(prom_family_and_samples)
{
	struct buf b = { 0 };

	CHECK(!prom_family(&b, "gateway_rx_bytes", "Bytes received\nby cable \\ driver", PROM_COUNTER));
	CHECK(!prom_sample(&b, "gateway_rx_bytes",
			   (const char *const[]){ "remote_cluster", "b", "remote_hostname", "gw \"2\"\n", NULL }, 1234));
	CHECK(!prom_sample(&b, "gateway_rx_bytes", NULL, 0.5));
	CHECK(text_is(&b, "# HELP gateway_rx_bytes Bytes received\\nby cable \\\\ driver\n"
			  "# TYPE gateway_rx_bytes counter\n"
			  "gateway_rx_bytes{remote_cluster=\"b\",remote_hostname=\"gw \\\"2\\\"\\n\"} 1234\n"
			  "gateway_rx_bytes 0.5\n"));
	buf_free(&b);
}

TEST(prom_refuses_bad_names_and_writes_nothing)
{
	struct buf b = { 0 };

	CHECK(prom_family(&b, "1abc", "x", PROM_GAUGE) == -EINVAL);
	CHECK(prom_sample(&b, "ok", (const char *const[]){ "__reserved", "v", NULL }, 1) == -EINVAL);
	CHECK(prom_sample(&b, "ok", (const char *const[]){ "a:b", "v", NULL }, 1) == -EINVAL);
	CHECK(prom_sample(&b, "ok", (const char *const[]){ "a", NULL }, 1) == -EINVAL);
	CHECK(b.len == 0);
	CHECK(prom_name_valid("weft:peer_rx", false) && !prom_name_valid("weft:peer_rx", true));
	CHECK(!prom_sample(&b, "up", NULL, INFINITY) && !prom_sample(&b, "down", NULL, NAN));
	CHECK(text_is(&b, "up +Inf\ndown NaN\n"));
	buf_free(&b);
}
