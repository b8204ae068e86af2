// SPDX-License-Identifier: MIT
/* The UAPI set parser, and whatever it accepts applied to a device and
 * read back: no crash, no leak, and a rejected request changes nothing.
 * What it accepts also formats back into a set request that parses to the
 * same. The same input, read as a get reply (what weftd reads from a
 * device that weft-wg hosts), formats back into a reply that reads the
 * same. */
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/sim.h"
#include "util/buf.h"
#include "wg/uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wg_config *parse(const char *text, size_t size, bool get)
{
	struct uapi_set s;
	char *copy = malloc(size + 1);
	size_t start = 0;

	memcpy(copy, text, size);
	if (get ? uapi_get_begin(&s) : uapi_set_begin(&s))
		abort();
	for (size_t i = 0; i <= size; ++i) {
		/* As a client reads: the text after the last newline, if any. */
		if ((i == size && start < size) || (i < size && copy[i] == '\n')) {
			uapi_set_line(&s, copy + start, i - start);
			start = i + 1;
		}
	}
	free(copy);
	return uapi_set_end(&s);
}

/* format(parse(format(cfg))) is format(cfg). */
static void round_trip(const struct wg_config *cfg, bool get)
{
	struct buf one = { 0 }, two = { 0 };
	struct wg_config *back;

	if ((get ? uapi_format_get(&one, cfg) || buf_printf(&one, "errno=0\n") : uapi_format_set(&one, cfg)))
		abort();
	back = parse(one.data ?: "", one.len, get);
	if (!back)
		abort(); /* what we write, we read */
	if ((get ? uapi_format_get(&two, back) || buf_printf(&two, "errno=0\n") : uapi_format_set(&two, back)))
		abort();
	if (one.len != two.len || memcmp(one.data, two.data, one.len))
		abort();
	wg_config_free(back);
	buf_free(&one);
	buf_free(&two);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sim_net *net;
	static struct sim_dev *dev;
	struct uapi_set s;
	struct wg_config *cfg, *before_cfg, *after_cfg;
	struct buf before = { 0 }, after = { 0 };
	char *copy;
	size_t start = 0;

	if (!net) {
		net = sim_new();
		dev = sim_add(net);
	}
	copy = malloc(size + 1);
	memcpy(copy, data, size);
	if (uapi_set_begin(&s))
		abort();
	for (size_t i = 0; i <= size; ++i) {
		if (i == size || copy[i] == '\n') {
			uapi_set_line(&s, copy + start, i - start);
			start = i + 1;
		}
	}
	cfg = uapi_set_end(&s);
	if (cfg)
		round_trip(cfg, false);
	{
		struct wg_config *reply = parse((const char *)data, size, true);

		if (reply)
			round_trip(reply, true);
		wg_config_free(reply);
	}
	before_cfg = wg_device_get(dev->dev);
	uapi_format_get(&before, before_cfg);
	if (cfg) {
		int ret = wg_device_set(dev->dev, cfg);

		after_cfg = wg_device_get(dev->dev);
		uapi_format_get(&after, after_cfg);
		if (ret && (before.len != after.len || memcmp(before.data, after.data, before.len)))
			abort(); /* a refused change must leave no trace */
		wg_config_free(after_cfg);
		/* Keep the device small between inputs. */
		wg_device_set(dev->dev, &(struct wg_config){ .flags = WG_DEV_REPLACE_PEERS });
	}
	wg_config_free(before_cfg);
	wg_config_free(cfg);
	buf_free(&before);
	buf_free(&after);
	free(copy);
	return 0;
}
