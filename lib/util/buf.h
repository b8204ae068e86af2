/* SPDX-License-Identifier: MIT */
/* A growable byte buffer. */
#ifndef WEFT_BUF_H
#define WEFT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

/* Each returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees and wipes (it may have held keys). */
void buf_free(struct buf *b);
void buf_consume(struct buf *b, size_t n);

#endif
