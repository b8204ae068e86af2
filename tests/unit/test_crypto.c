// SPDX-License-Identifier: MIT
/* Known answers from the RFCs and drafts, through weft's wrappers. */
#include "test.h"

#include "crypto/crypto.h"

#include <jansson.h>

static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				"only one tip for the future, sunscreen would be it.";

static void seq(unsigned char *p, size_t n, unsigned char start)
{
	for (size_t i = 0; i < n; ++i)
		p[i] = (unsigned char)(start + i);
}

/* RFC 8439 section 2.8.2. */
TEST(chacha20poly1305_rfc8439)
{
	unsigned char key[32], nonce[12], ad[12], want[256], got[256], back[256];
	size_t n = sizeof(sunscreen) - 1;

	seq(key, 32, 0x80);
	test_unhex(nonce, sizeof(nonce), "070000004041424344454647");
	test_unhex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7");
	CHECK(test_unhex(want, sizeof(want),
			 "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
			 "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
			 "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
			 "3ff4def08e4b7a9de576d26586cec64b6116"
			 "1ae10b594f09e26a7e902ecbd0600691") == n + 16);
	CHECK(aead_seal(got, (const unsigned char *)sunscreen, n, ad, 12, nonce, key));
	CHECK_MEM(got, want, n + 16);
	CHECK(aead_open(back, got, n + 16, ad, 12, nonce, key));
	CHECK_MEM(back, sunscreen, n);
	got[3] ^= 1;
	CHECK(!aead_open(back, got, n + 16, ad, 12, nonce, key));
}

/* Both library paths (short: libsodium, long: OpenSSL) must agree with each
 * other and open each other's output, in place too. */
TEST(chacha20poly1305_paths_agree)
{
	static unsigned char key[32], buf[4096 + 16], a[4096 + 16], b[4096 + 16];
	unsigned char nonce[12];
	size_t lens[] = { 0, 1, 15, 16, 17, 63, 255, 256, 257, 1420, 4096 };

	crypto_random(key, sizeof(key));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); ++i) {
		size_t n = lens[i];

		crypto_random(buf, n);
		aead_nonce_from_counter(nonce, 0x0102030405060708ULL + i);
		CHECK(nonce[0] == 0 && nonce[3] == 0 && nonce[4] == (unsigned char)(8 + i));
		CHECK(aead_seal(a, buf, n, NULL, 0, nonce, key));
		memcpy(b, buf, n);
		CHECK(aead_seal(b, b, n, NULL, 0, nonce, key));
		CHECK_MEM(a, b, n + 16);
		CHECK(aead_open(b, b, n + 16, NULL, 0, nonce, key));
		CHECK_MEM(b, buf, n);
		a[n] ^= 0x80;
		CHECK(!aead_open(b, a, n + 16, NULL, 0, nonce, key));
	}
	CHECK(!aead_open(b, a, 15, NULL, 0, nonce, key));
}

/* draft-irtf-cfrg-xchacha-03, appendix A.3.1. */
TEST(xchacha20poly1305_draft)
{
	unsigned char key[32], nonce[24], ad[12], want[256], got[256], back[256];
	size_t n = sizeof(sunscreen) - 1;

	seq(key, 32, 0x80);
	seq(nonce, 24, 0x40);
	test_unhex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7");
	CHECK(test_unhex(want, sizeof(want),
			 "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
			 "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
			 "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
			 "21f9664c97637da9768812f615c68b13b52e"
			 "c0875924c1c7987947deafd8780acf49") == n + 16);
	CHECK(xaead_seal(got, (const unsigned char *)sunscreen, n, ad, 12, nonce, key));
	CHECK_MEM(got, want, n + 16);
	CHECK(xaead_open(back, got, n + 16, ad, 12, nonce, key));
	CHECK_MEM(back, sunscreen, n);
	got[n + 15] ^= 1;
	CHECK(!xaead_open(back, got, n + 16, ad, 12, nonce, key));
}

/* RFC 7748 section 5.2 (single and iterated) and 6.1. */
TEST(x25519_rfc7748)
{
	unsigned char k[32], u[32], want[32], got[32], t[32];

	test_unhex(k, 32, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	test_unhex(u, 32, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
	test_unhex(want, 32, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	CHECK(x25519(got, k, u));
	CHECK_MEM(got, want, 32);

	test_unhex(k, 32, "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
	test_unhex(u, 32, "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
	test_unhex(want, 32, "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
	CHECK(x25519(got, k, u));
	CHECK_MEM(got, want, 32);

	memset(k, 0, 32);
	k[0] = 9;
	memcpy(u, k, 32);
	for (int i = 1; i <= 1000; ++i) {
		CHECK(x25519(t, k, u));
		memcpy(u, k, 32);
		memcpy(k, t, 32);
		if (i == 1) {
			test_unhex(want, 32,
				   "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
			CHECK_MEM(k, want, 32);
		}
	}
	test_unhex(want, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
	CHECK_MEM(k, want, 32);
}

TEST(x25519_dh_rfc7748)
{
	unsigned char a[32], b[32], apub[32], bpub[32], want[32], s1[32], s2[32];

	test_unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	test_unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	CHECK(x25519_public(apub, a));
	CHECK(x25519_public(bpub, b));
	test_unhex(want, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	CHECK_MEM(apub, want, 32);
	test_unhex(want, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	CHECK_MEM(bpub, want, 32);
	test_unhex(want, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	CHECK(x25519(s1, a, bpub));
	CHECK(x25519(s2, b, apub));
	CHECK_MEM(s1, want, 32);
	CHECK_MEM(s2, want, 32);
}

/* Points of small order must give an error, never an all-zero secret. */
TEST(x25519_low_order_rejected)
{
	unsigned char k[32], pt[32], out[32];
	static const char *low[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};

	x25519_generate_private(k);
	CHECK((k[0] & 7) == 0 && (k[31] & 0xc0) == 0x40);
	for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); ++i) {
		test_unhex(pt, 32, low[i]);
		CHECK(!x25519(out, k, pt));
		CHECK(crypto_is_zero(out, 32));
	}
	memset(k, 0, 32);
	CHECK(!x25519_public(pt, k));
}

/* RFC 7693 appendix B, and the BLAKE2 reference keyed KAT (blake2s-kat.txt). */
TEST(blake2s_rfc7693)
{
	unsigned char key[32], in[8], want[32], got[32], got16[16];
	static const char *keyed[] = {
		"48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49",
		"40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1",
		"6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803",
		"1d220dbe2ee134661fdf6d9e74b41704710556f2f6e5a091b227697445dbea6b",
		"f6c3fbadb4cc687a0064a5be6e791bec63b868ad62fba61b3757ef9ca52e05b2",
		"49c1f21188dfd769aea0e911dd6b41f14dab109d2b85977aa3088b5c707e8598",
	};

	test_unhex(want, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	blake2s256(got, "abc", 3, NULL, 0, NULL, 0);
	CHECK_MEM(got, want, 32);
	blake2s256(got, "a", 1, "b", 1, "c", 1);
	CHECK_MEM(got, want, 32);

	seq(key, 32, 0);
	seq(in, sizeof(in), 0);
	for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]); ++i) {
		test_unhex(want, 32, keyed[i]);
		blake2s_mac256(got, key, 32, in, i);
		CHECK_MEM(got, want, 32);
	}
	/* 16-byte output: not in the RFC; cross-checked with CPython's hashlib,
	 * which embeds the BLAKE2 reference code. */
	test_unhex(want, 16, "61ba5f165c194692e09d12520cc4c74a");
	blake2s_mac128(got16, key, 32, "abc", 3);
	CHECK_MEM(got16, want, 16);
}

/* HMAC (RFC 2104) over BLAKE2s-256; cross-checked with CPython's hmac + hashlib. */
TEST(hmac_blake2s)
{
	unsigned char key[32], want[32], got[32];

	seq(key, 32, 0);
	test_unhex(want, 32, "82623be5bc0a391b24dce53e67d028eff92d586de0485ac37822e597d049c74f");
	hmac_blake2s(got, key, "abc", 3);
	CHECK_MEM(got, want, 32);
}

TEST(constant_time_helpers)
{
	unsigned char a[32] = { 0 }, b[32] = { 0 };

	CHECK(crypto_equal(a, b, 32));
	CHECK(crypto_is_zero(a, 32));
	b[31] = 1;
	CHECK(!crypto_equal(a, b, 32));
	CHECK(!crypto_is_zero(b, 32));
	crypto_wipe(b, 32);
	CHECK(crypto_is_zero(b, 32));
	for (int i = 0; i < 1000; ++i)
		CHECK(crypto_random_below(7) < 7);
}

TEST(json_frees_wiped_once_asked)
{
	json_t *v;
	char *text;

	crypto_wipe_json_frees();
	CHECK(crypto_json_frees_wiped());
	/* jansson still works through it: made, copied, dumped, freed. */
	v = json_pack("{s:s, s:[i, s]}", "credential", "weftn1:node:secret", "more", 1, "x");
	CHECK(v != NULL);
	text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	CHECK(text && !strcmp(text, "{\"credential\":\"weftn1:node:secret\",\"more\":[1,\"x\"]}"));
	free(text);
	json_decref(v);
}
