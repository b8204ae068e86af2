// SPDX-License-Identifier: MIT
/* Times, sizes, lists and tables, as a person reads them. */
#include "weft.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *fmt_ago(char *buf, size_t len, int64_t then, int64_t now)
{
	static const struct {
		const char *unit;
		int64_t seconds;
	} units[] = {
		{ "year", 365 * 86400 }, { "day", 86400 }, { "hour", 3600 }, { "minute", 60 }, { "second", 1 },
	};
	int64_t left = now - then;
	size_t off = 0;

	if (!then)
		snprintf(buf, len, "never");
	else if (left == 0)
		snprintf(buf, len, "Now");
	else if (left < 0)
		snprintf(buf, len, "(in the future: this machine's clock is behind)");
	else {
		buf[0] = '\0';
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && off < len; ++i) {
			int64_t n = left / units[i].seconds;

			if (!n)
				continue;
			left -= n * units[i].seconds;
			off += (size_t)snprintf(buf + off, len - off, "%s%lld %s%s", off ? ", " : "", (long long)n,
						units[i].unit, n == 1 ? "" : "s");
		}
		if (off < len)
			snprintf(buf + off, len - off, " ago");
	}
	return buf;
}

const char *fmt_ago_short(char *buf, size_t len, int64_t then, int64_t now)
{
	int64_t d = now - then;

	if (!then)
		snprintf(buf, len, "never");
	else if (d < 0)
		snprintf(buf, len, "now");
	else if (d < 60)
		snprintf(buf, len, "%llds ago", (long long)d);
	else if (d < 3600)
		snprintf(buf, len, "%lldm ago", (long long)(d / 60));
	else if (d < 86400)
		snprintf(buf, len, "%lldh ago", (long long)(d / 3600));
	else
		snprintf(buf, len, "%lldd ago", (long long)(d / 86400));
	return buf;
}

const char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t i;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	for (i = 0; i < 3 && v >= 1024.0 * 1024.0; ++i)
		v /= 1024.0;
	snprintf(buf, len, "%.2f %s", v / 1024.0, units[i]);
	return buf;
}

const char *fmt_join(char *buf, size_t len, json_t *array, const char *sep)
{
	size_t off = 0, i;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(array, i, v) {
		if (!json_is_string(v) || off >= len)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? sep : "", json_string_value(v));
	}
	return buf;
}

const char *fmt_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

void table_init(struct table *t, size_t ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < TABLE_COLS_MAX ? ncols : TABLE_COLS_MAX;
	table_row(t, header);
}

void table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **more = realloc(t->cells, cap * t->ncols * sizeof(*more));
		char **notes = more ? realloc(t->notes, cap * sizeof(*notes)) : NULL;

		if (!notes)
			abort(); /* a command line out of memory has nothing better to do */
		t->cells = more;
		t->notes = notes;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; ++c)
		t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "");
	t->notes[t->nrows] = NULL;
	++t->nrows;
}

void table_note(struct table *t, const char *text)
{
	free(t->notes[t->nrows - 1]);
	t->notes[t->nrows - 1] = strdup(text);
}

void table_print(struct table *t, FILE *f)
{
	size_t width[TABLE_COLS_MAX] = { 0 };

	for (size_t r = 0; r < t->nrows; ++r)
		for (size_t c = 0; c < t->ncols; ++c) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			if (n > width[c])
				width[c] = n;
		}
	for (size_t r = 0; r < t->nrows; ++r) {
		fprintf(f, "%*s", t->indent, "");
		for (size_t c = 0; c < t->ncols; ++c) {
			const char *cell = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)width[c], cell);
		}
		if (t->notes[r])
			fprintf(f, "%*s%s\n", t->indent, "", t->notes[r]);
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; ++i)
		free(t->cells[i]);
	for (size_t r = 0; r < t->nrows; ++r)
		free(t->notes[r]);
	free(t->cells);
	free(t->notes);
	memset(t, 0, sizeof(*t));
}

const char *jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int64_t jint(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

void json_print(FILE *f, json_t *v)
{
	json_dumpf(v, f, JSON_INDENT(2));
	fputc('\n', f);
}
