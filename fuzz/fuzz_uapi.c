// SPDX-License-Identifier: MIT
/* The UAPI set parser, and whatever it accepts applied to a device and
 * read back: no crash, no leak, and a rejected request changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/sim.h"
#include "util/buf.h"
#include "wg/uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
