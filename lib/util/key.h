/* SPDX-License-Identifier: MIT */
/* WireGuard keys as text: base64 (wg's form) and hex (the UAPI's). */
#ifndef WEFT_KEY_H
#define WEFT_KEY_H

#include <stdbool.h>
#include <stdint.h>

enum {
	KEY_LEN = 32,
	KEY_B64_LEN = 45, /* with the terminating NUL */
	KEY_HEX_LEN = 65,
};

void key_to_base64(char out[KEY_B64_LEN], const uint8_t key[KEY_LEN]);
bool key_from_base64(uint8_t key[KEY_LEN], const char *s);
void key_to_hex(char out[KEY_HEX_LEN], const uint8_t key[KEY_LEN]);
/* Exactly 64 hex digits, either case. */
bool key_from_hex(uint8_t key[KEY_LEN], const char *s);

#endif
