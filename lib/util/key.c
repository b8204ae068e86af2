// SPDX-License-Identifier: MIT
#include "key.h"

#include <sodium.h>
#include <string.h>

#include "crypto/crypto.h"

void key_to_base64(char out[KEY_B64_LEN], const uint8_t key[KEY_LEN])
{
	sodium_bin2base64(out, KEY_B64_LEN, key, KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

bool key_from_base64(uint8_t key[KEY_LEN], const char *s)
{
	uint8_t tmp[KEY_LEN + 1];
	size_t len;
	const char *end;
	bool ok;

	if (strlen(s) != KEY_B64_LEN - 1 || s[KEY_B64_LEN - 2] != '=')
		return false;
	ok = !sodium_base642bin(tmp, sizeof(tmp), s, KEY_B64_LEN - 1, NULL, &len, &end,
				sodium_base64_VARIANT_ORIGINAL) &&
	     len == KEY_LEN && *end == '\0';
	if (ok) {
		/* Only the canonical spelling: the last character's unused
		 * bits must be zero, so one key has one text form. */
		char again[KEY_B64_LEN];

		key_to_base64(again, tmp);
		ok = !strcmp(again, s);
	}
	if (ok)
		memcpy(key, tmp, KEY_LEN);
	crypto_wipe(tmp, sizeof(tmp));
	return ok;
}

void key_to_hex(char out[KEY_HEX_LEN], const uint8_t key[KEY_LEN])
{
	sodium_bin2hex(out, KEY_HEX_LEN, key, KEY_LEN);
}

bool key_from_hex(uint8_t key[KEY_LEN], const char *s)
{
	uint8_t tmp[KEY_LEN];
	size_t len;
	const char *end;
	bool ok;

	if (strlen(s) != KEY_HEX_LEN - 1)
		return false;
	ok = !sodium_hex2bin(tmp, sizeof(tmp), s, KEY_HEX_LEN - 1, NULL, &len, &end) &&
	     len == KEY_LEN && *end == '\0';
	if (ok)
		memcpy(key, tmp, KEY_LEN);
	crypto_wipe(tmp, sizeof(tmp));
	return ok;
}
