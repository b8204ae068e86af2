// SPDX-License-Identifier: MIT
#include "crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

/*
 * Below this many bytes libsodium's ChaCha20-Poly1305 is faster than
 * OpenSSL's, whose EVP layer costs a fixed ~0.4 us per call; above it
 * OpenSSL's AVX2/AVX-512 code wins (bench/crypto, docs/dependencies.md).
 */
#define AEAD_OPENSSL_MIN 768

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = -EINVAL;
static pthread_key_t tls_key;
static EVP_MD *md_blake2s;
static EVP_MAC *mac_blake2s;
static EVP_MAC *mac_hmac;

struct tls_ctx {
	EVP_CIPHER_CTX *seal;
	EVP_CIPHER_CTX *open;
	EVP_MD_CTX *md;
};

static _Thread_local struct tls_ctx *tls;

static void tls_free(void *p)
{
	struct tls_ctx *t = p;

	if (!t)
		return;
	EVP_CIPHER_CTX_free(t->seal);
	EVP_CIPHER_CTX_free(t->open);
	EVP_MD_CTX_free(t->md);
	free(t);
}

static void do_init(void)
{
	if (sodium_init() < 0) {
		init_result = -EIO;
		return;
	}
	md_blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	mac_blake2s = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!md_blake2s || !mac_blake2s || !mac_hmac || pthread_key_create(&tls_key, tls_free)) {
		init_result = -ENOSYS;
		return;
	}
	init_result = 0;
}

int crypto_init(void)
{
	pthread_once(&init_once, do_init);
	return init_result;
}

/* OpenSSL contexts are not shareable between threads: each thread keeps its
 * own, created on first use and freed when the thread exits. */
static struct tls_ctx *ctx_get(void)
{
	struct tls_ctx *t = tls;

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->seal = EVP_CIPHER_CTX_new();
	t->open = EVP_CIPHER_CTX_new();
	t->md = EVP_MD_CTX_new();
	if (!t->seal || !t->open || !t->md ||
	    !EVP_EncryptInit_ex(t->seal, EVP_chacha20_poly1305(), NULL, NULL, NULL) ||
	    !EVP_DecryptInit_ex(t->open, EVP_chacha20_poly1305(), NULL, NULL, NULL))
		abort();
	pthread_setspecific(tls_key, t);
	tls = t;
	return t;
}

void crypto_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

void crypto_free_string(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

bool crypto_is_zero(const void *p, size_t n)
{
	return sodium_is_zero(p, n) == 1;
}

void crypto_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

uint32_t crypto_random_u32(void)
{
	return randombytes_random();
}

uint32_t crypto_random_below(uint32_t bound)
{
	return randombytes_uniform(bound);
}

void x25519_clamp(uint8_t key[X25519_KEY_LEN])
{
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
}

void x25519_generate_private(uint8_t key[X25519_KEY_LEN])
{
	randombytes_buf(key, X25519_KEY_LEN);
	x25519_clamp(key);
}

bool x25519_public(uint8_t pub[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN])
{
	if (crypto_is_zero(priv, X25519_KEY_LEN)) {
		memset(pub, 0, X25519_KEY_LEN);
		return false;
	}
	return crypto_scalarmult_base(pub, priv) == 0;
}

bool x25519(uint8_t out[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN],
	    const uint8_t pub[X25519_KEY_LEN])
{
	/* libsodium refuses (returns -1) when the shared point is all zero. */
	if (crypto_scalarmult(out, priv, pub) != 0) {
		crypto_wipe(out, X25519_KEY_LEN);
		return false;
	}
	return true;
}

void blake2s256(uint8_t out[BLAKE2S_HASH_LEN], const void *a, size_t alen, const void *b,
		size_t blen, const void *c, size_t clen)
{
	EVP_MD_CTX *md = ctx_get()->md;
	unsigned int outlen = BLAKE2S_HASH_LEN;

	if (!EVP_DigestInit_ex(md, md_blake2s, NULL) || (a && !EVP_DigestUpdate(md, a, alen)) ||
	    (b && !EVP_DigestUpdate(md, b, blen)) || (c && !EVP_DigestUpdate(md, c, clen)) ||
	    !EVP_DigestFinal_ex(md, out, &outlen))
		abort();
}

static void mac_run(EVP_MAC *mac, const OSSL_PARAM *params, uint8_t *out, size_t outlen,
		    const uint8_t *key, size_t keylen, const void *in, size_t inlen)
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	size_t got = 0;

	if (!ctx || !EVP_MAC_init(ctx, key, keylen, params) || !EVP_MAC_update(ctx, in, inlen) ||
	    !EVP_MAC_final(ctx, out, &got, outlen) || got != outlen)
		abort();
	EVP_MAC_CTX_free(ctx);
}

static void blake2s_keyed(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
			  const void *in, size_t inlen)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
		OSSL_PARAM_construct_end(),
	};

	mac_run(mac_blake2s, params, out, outlen, key, keylen, in, inlen);
}

void blake2s_mac128(uint8_t out[BLAKE2S_128_LEN], const uint8_t *key, size_t keylen,
		    const void *in, size_t inlen)
{
	blake2s_keyed(out, BLAKE2S_128_LEN, key, keylen, in, inlen);
}

void blake2s_mac256(uint8_t out[BLAKE2S_HASH_LEN], const uint8_t *key, size_t keylen,
		    const void *in, size_t inlen)
{
	blake2s_keyed(out, BLAKE2S_HASH_LEN, key, keylen, in, inlen);
}

void hmac_blake2s(uint8_t out[BLAKE2S_HASH_LEN], const uint8_t key[BLAKE2S_HASH_LEN],
		  const void *in, size_t inlen)
{
	char digest[] = "BLAKE2S-256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};

	mac_run(mac_hmac, params, out, BLAKE2S_HASH_LEN, key, BLAKE2S_HASH_LEN, in, inlen);
}

void aead_nonce_from_counter(uint8_t nonce[AEAD_NONCE_LEN], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; ++i)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

bool aead_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
	       const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN])
{
	EVP_CIPHER_CTX *c;
	int n;

	if (len < AEAD_OPENSSL_MIN || len > INT32_MAX)
		return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			       dst, dst + len, NULL, src, len, ad, adlen, NULL, nonce, key) == 0;
	c = ctx_get()->seal;
	if (!EVP_EncryptInit_ex(c, NULL, NULL, key, nonce))
		return false;
	if (adlen && !EVP_EncryptUpdate(c, NULL, &n, ad, (int)adlen))
		return false;
	if (!EVP_EncryptUpdate(c, dst, &n, src, (int)len) || !EVP_EncryptFinal_ex(c, dst + n, &n))
		return false;
	return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, dst + len) == 1;
}

bool aead_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
	       const uint8_t nonce[AEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN])
{
	EVP_CIPHER_CTX *c;
	size_t plain;
	int n;

	if (len < AEAD_TAG_LEN)
		return false;
	plain = len - AEAD_TAG_LEN;
	if (plain < AEAD_OPENSSL_MIN || plain > INT32_MAX)
		return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			       dst, NULL, src, plain, src + plain, ad, adlen, nonce, key) == 0;
	c = ctx_get()->open;
	if (!EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN, (void *)(src + plain)))
		return false;
	if (adlen && !EVP_DecryptUpdate(c, NULL, &n, ad, (int)adlen))
		return false;
	if (!EVP_DecryptUpdate(c, dst, &n, src, (int)plain))
		return false;
	return EVP_DecryptFinal_ex(c, dst + n, &n) > 0;
}

bool xaead_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		const uint8_t nonce[XAEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN])
{
	return crypto_aead_xchacha20poly1305_ietf_encrypt_detached(dst, dst + len, NULL, src, len,
								   ad, adlen, NULL, nonce, key) == 0;
}

bool xaead_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		const uint8_t nonce[XAEAD_NONCE_LEN], const uint8_t key[AEAD_KEY_LEN])
{
	if (len < AEAD_TAG_LEN)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		       dst, NULL, src, len - AEAD_TAG_LEN, src + len - AEAD_TAG_LEN, ad, adlen, nonce,
		       key) == 0;
}
