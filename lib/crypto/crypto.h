/* SPDX-License-Identifier: MIT */
/*
 * The primitives WireGuard needs, as thin wrappers over well-kept libraries:
 * OpenSSL 3 libcrypto for ChaCha20-Poly1305 (bulk), BLAKE2s and HMAC-BLAKE2s;
 * libsodium for X25519, XChaCha20-Poly1305, randomness, constant-time
 * comparison and wiping. docs/dependencies.md has the measurements behind
 * the split. Nothing here is a hand-written cipher.
 */
#ifndef WEFT_CRYPTO_H
#define WEFT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	X25519_KEY_LEN = 32,
	BLAKE2S_HASH_LEN = 32,
	BLAKE2S_128_LEN = 16,
	AEAD_KEY_LEN = 32,
	AEAD_NONCE_LEN = 12,
	AEAD_TAG_LEN = 16,
	XAEAD_NONCE_LEN = 24,
};

/* Must succeed before anything else here is used; safe to call repeatedly
 * and from several threads. Returns 0 or a negative errno. */
int crypto_init(void);

void crypto_wipe(void *p, size_t n);
/* Wipes a heap string that held a secret (a token, a key in text), then
 * frees it; NULL is fine. */
void crypto_free_string(char *s);
/* From now on every block jansson frees is wiped first (json_wipe.c): for
 * the programs whose JSON carries secrets. Call before making any JSON. */
void crypto_wipe_json_frees(void);
bool crypto_json_frees_wiped(void);
bool crypto_equal(const void *a, const void *b, size_t n);
bool crypto_is_zero(const void *p, size_t n);
void crypto_random(void *p, size_t n);
uint32_t crypto_random_u32(void);
/* Uniform in [0, bound), bound > 0. */
uint32_t crypto_random_below(uint32_t bound);

void x25519_clamp(uint8_t key[X25519_KEY_LEN]);
void x25519_generate_private(uint8_t key[X25519_KEY_LEN]);
/* False when the private key is all zero (no identity). */
bool x25519_public(uint8_t pub[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN]);
/* False when the result is all zero: the peer's point has low order. */
bool x25519(uint8_t out[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN],
	    const uint8_t pub[X25519_KEY_LEN]);

/* Unkeyed BLAKE2s-256 over the concatenation of up to three pieces
 * (NULL pieces are skipped). */
void blake2s256(uint8_t out[BLAKE2S_HASH_LEN], const void *a, size_t alen,
		const void *b, size_t blen, const void *c, size_t clen);
/* Keyed BLAKE2s with a 16-byte output (WireGuard's MAC). */
void blake2s_mac128(uint8_t out[BLAKE2S_128_LEN], const uint8_t *key, size_t keylen,
		    const void *in, size_t inlen);
/* Keyed BLAKE2s with a 32-byte output (used by the KAT tests). */
void blake2s_mac256(uint8_t out[BLAKE2S_HASH_LEN], const uint8_t *key, size_t keylen,
		    const void *in, size_t inlen);
void hmac_blake2s(uint8_t out[BLAKE2S_HASH_LEN], const uint8_t key[BLAKE2S_HASH_LEN],
		  const void *in, size_t inlen);

/*
 * ChaCha20-Poly1305 (RFC 8439). seal writes len + AEAD_TAG_LEN bytes to dst;
 * open reads len bytes (ciphertext and tag) and writes len - AEAD_TAG_LEN.
 * dst may equal src. open returns false when authentication fails, leaving
 * dst unspecified.
 */
bool aead_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
	       const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN]);
bool aead_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
	       const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN]);
/* WireGuard's nonce: 32 zero bits, then the counter in little endian. */
void aead_nonce_from_counter(uint8_t nonce[AEAD_NONCE_LEN], uint64_t counter);

/* XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), same conventions. */
bool xaead_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		const uint8_t nonce[XAEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN]);
bool xaead_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		const uint8_t nonce[XAEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN]);

#endif
