// SPDX-License-Identifier: MIT
/*
 * Measures the candidate libraries for each primitive on this machine, side
 * by side in one run (docs/dependencies.md records what it showed).
 */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static unsigned char key[32], nonce[12], buf[65536 + 16], tag[16];

static double openssl_seal(size_t len, int iters)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;
	double t;

	EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL);
	t = now();
	for (int i = 0; i < iters; ++i) {
		memcpy(nonce + 4, &i, sizeof(i));
		EVP_EncryptInit_ex(c, NULL, NULL, key, nonce);
		EVP_EncryptUpdate(c, buf, &n, buf, (int)len);
		EVP_EncryptFinal_ex(c, buf + n, &n);
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag);
	}
	t = now() - t;
	EVP_CIPHER_CTX_free(c);
	return t / iters * 1e6;
}

static double sodium_seal(size_t len, int iters)
{
	double t = now();

	for (int i = 0; i < iters; ++i) {
		memcpy(nonce + 4, &i, sizeof(i));
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, buf, len, NULL, 0, NULL, nonce, key);
	}
	return (now() - t) / iters * 1e6;
}

static double weft_seal(size_t len, int iters)
{
	double t = now();

	for (int i = 0; i < iters; ++i) {
		aead_nonce_from_counter(nonce, (uint64_t)i);
		aead_seal(buf, buf, len, NULL, 0, nonce, key);
	}
	return (now() - t) / iters * 1e6;
}

int main(void)
{
	static const size_t sizes[] = { 32, 64, 128, 256, 512, 640, 768, 896, 1024, 1280, 1420, 8192 };
	unsigned char sk[32], pk[32], ss[32];
	double t;
	int iters = 200000;

	if (crypto_init())
		return 1;
	randombytes_buf(key, sizeof(key));
	printf("ChaCha20-Poly1305 seal, microseconds per call (best of 3)\n");
	printf("%8s %10s %10s %10s\n", "bytes", "openssl", "libsodium", "weft");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
		double o = 1e9, s = 1e9, w = 1e9;

		for (int r = 0; r < 3; ++r) {
			double a = openssl_seal(sizes[i], iters), b = sodium_seal(sizes[i], iters),
			       c = weft_seal(sizes[i], iters);

			o = a < o ? a : o;
			s = b < s ? b : s;
			w = c < w ? c : w;
		}
		printf("%8zu %10.3f %10.3f %10.3f\n", sizes[i], o, s, w);
	}
	x25519_generate_private(sk);
	x25519_public(pk, sk);
	t = now();
	for (int i = 0; i < 5000; ++i)
		x25519(ss, sk, pk);
	printf("X25519 (libsodium): %.1f us\n", (now() - t) / 5000 * 1e6);
	t = now();
	for (int i = 0; i < 100000; ++i)
		blake2s256(ss, buf, 148, NULL, 0, NULL, 0);
	printf("BLAKE2s-256 of 148 bytes (OpenSSL): %.3f us\n", (now() - t) / 100000 * 1e6);
	t = now();
	for (int i = 0; i < 100000; ++i)
		blake2s_mac128(tag, key, 32, buf, 116);
	printf("keyed BLAKE2s-128 (mac1) of 116 bytes (OpenSSL EVP_MAC): %.3f us\n", (now() - t) / 100000 * 1e6);
	return 0;
}
