// SPDX-License-Identifier: MIT
#include "metrics/prom.h"

#include <errno.h>
#include <math.h>
#include <string.h>

bool prom_name_valid(const char *name, bool label)
{
	if (!name || !*name || (label && !strncmp(name, "__", 2)))
		return false;
	for (const char *p = name; *p; ++p) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (!label && *p == ':');

		if (!alpha && (p == name || *p < '0' || *p > '9'))
			return false;
	}
	return true;
}

/* HELP text escapes \ and newline; label values also ". */
static int escaped(struct buf *b, const char *s, bool quote)
{
	int ret = 0;

	for (; *s && !ret; ++s) {
		if (*s == '\\')
			ret = buf_append(b, "\\\\", 2);
		else if (*s == '\n')
			ret = buf_append(b, "\\n", 2);
		else if (quote && *s == '"')
			ret = buf_append(b, "\\\"", 2);
		else
			ret = buf_append(b, s, 1);
	}
	return ret;
}

int prom_family(struct buf *b, const char *name, const char *help, enum prom_type type)
{
	if (!prom_name_valid(name, false))
		return -EINVAL;
	if (buf_printf(b, "# HELP %s ", name) || escaped(b, help ? help : "", false) ||
	    buf_printf(b, "\n# TYPE %s %s\n", name, type == PROM_COUNTER ? "counter" : "gauge"))
		return -ENOMEM;
	return 0;
}

int prom_sample(struct buf *b, const char *name, const char *const *labels, double value)
{
	size_t start = b->len;
	int ret = -ENOMEM;

	if (!prom_name_valid(name, false))
		return -EINVAL;
	if (buf_printf(b, "%s", name))
		goto fail;
	for (size_t i = 0; labels && labels[i]; i += 2) {
		if (!prom_name_valid(labels[i], true) || !labels[i + 1]) {
			ret = -EINVAL;
			goto fail;
		}
		if (buf_printf(b, "%s%s=\"", i ? "," : "{", labels[i]) || escaped(b, labels[i + 1], true) ||
		    buf_append(b, "\"", 1))
			goto fail;
	}
	if (labels && labels[0] && buf_append(b, "}", 1))
		goto fail;
	/* Integers as integers (counters of bytes are exact up to 2^53). */
	if (isnan(value))
		ret = buf_printf(b, " NaN\n");
	else if (isinf(value))
		ret = buf_printf(b, " %sInf\n", value < 0 ? "-" : "+");
	else if (value == floor(value) && fabs(value) < 9007199254740992.0)
		ret = buf_printf(b, " %.0f\n", value);
	else
		ret = buf_printf(b, " %.17g\n", value);
	if (!ret)
		return 0;
fail:
	b->len = start; /* nothing half-written */
	return ret;
}
