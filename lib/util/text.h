/* SPDX-License-Identifier: MIT */
/* UTF-8 for text that goes into JSON: messages quoting what a caller sent. */
#ifndef WEFT_TEXT_H
#define WEFT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF), up to the NUL. */
bool text_utf8_valid(const char *s);
/* Makes s well-formed in place: each byte that does not start a valid
 * sequence becomes '?'. A message that quoted a value cut by bytes (%.40s)
 * or a parser's raw input stays printable, and JSON takes it. */
void text_utf8_clean(char *s);

#endif
