// SPDX-License-Identifier: MIT
/*
 * mac1, mac2 and cookie replies (whitepaper section 5.4.4 and 5.4.7): mac1
 * proves the sender knows our public key; under load, mac2 proves it can
 * receive at its source address, via a cookie we sealed for that address.
 */
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

static const char label_mac1[] = "mac1----";
static const char label_cookie[] = "cookie--";

static void derive_key(uint8_t key[WG_KEY_LEN], const char *label, const uint8_t pub[WG_KEY_LEN])
{
	blake2s256(key, label, 8, pub, WG_KEY_LEN, NULL, 0);
}

void wg_cookie_checker_init(struct wg_cookie_checker *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void wg_cookie_checker_free(struct wg_cookie_checker *c)
{
	crypto_wipe(c->secret, sizeof(c->secret));
	pthread_mutex_destroy(&c->lock);
}

/* cfg_lock held for writing (the identity changed). */
void wg_cookie_checker_precompute(struct wg_device *dev)
{
	struct wg_cookie_checker *c = &dev->cookie_checker;

	if (dev->has_identity) {
		derive_key(c->mac1_key, label_mac1, dev->static_public);
		derive_key(c->cookie_encryption_key, label_cookie, dev->static_public);
	} else {
		memset(c->mac1_key, 0, WG_KEY_LEN);
		memset(c->cookie_encryption_key, 0, WG_KEY_LEN);
	}
}

void wg_cookie_maker_init(struct wg_cookie_maker *m, const uint8_t peer_public[WG_KEY_LEN])
{
	memset(m, 0, sizeof(*m));
	derive_key(m->mac1_key, label_mac1, peer_public);
	derive_key(m->cookie_decryption_key, label_cookie, peer_public);
}

/* The cookie for a source: MAC(secret, address || port), the secret
 * renewed every two minutes. */
static void make_cookie(struct wg_device *dev, uint8_t cookie[WG_COOKIE_LEN], const struct wg_endpoint *src)
{
	struct wg_cookie_checker *c = &dev->cookie_checker;
	uint8_t in[16 + 2];
	size_t n;
	uint64_t now = wg_now(dev);

	if (src->addr.sa.sa_family == AF_INET) {
		memcpy(in, &src->addr.in4.sin_addr, 4);
		memcpy(in + 4, &src->addr.in4.sin_port, 2);
		n = 6;
	} else {
		memcpy(in, &src->addr.in6.sin6_addr, 16);
		memcpy(in + 16, &src->addr.in6.sin6_port, 2);
		n = 18;
	}
	pthread_mutex_lock(&c->lock);
	if (!c->secret_set || wg_expired(c->secret_birthdate, WG_COOKIE_SECRET_MAX_AGE, now)) {
		crypto_random(c->secret, sizeof(c->secret));
		c->secret_birthdate = now;
		c->secret_set = true;
	}
	blake2s_mac128(cookie, c->secret, sizeof(c->secret), in, n);
	pthread_mutex_unlock(&c->lock);
}

enum wg_cookie_mac_state wg_cookie_validate(struct wg_device *dev, const uint8_t *msg, size_t len,
					    const struct wg_endpoint *src, bool check_cookie)
{
	const struct wg_msg_macs *macs = (const struct wg_msg_macs *)(msg + len - sizeof(*macs));
	uint8_t computed[WG_COOKIE_LEN], cookie[WG_COOKIE_LEN];

	blake2s_mac128(computed, dev->cookie_checker.mac1_key, WG_KEY_LEN, msg,
		       len - sizeof(struct wg_msg_macs));
	if (!crypto_equal(computed, macs->mac1, WG_COOKIE_LEN))
		return COOKIE_INVALID_MAC;
	if (!check_cookie)
		return COOKIE_VALID_MAC_BUT_NO_COOKIE;
	make_cookie(dev, cookie, src);
	blake2s_mac128(computed, cookie, WG_COOKIE_LEN, msg, len - WG_COOKIE_LEN);
	crypto_wipe(cookie, sizeof(cookie));
	if (!crypto_equal(computed, macs->mac2, WG_COOKIE_LEN))
		return COOKIE_VALID_MAC_BUT_NO_COOKIE;
	if (!wg_ratelimiter_allow(&dev->ratelimiter, &src->addr.sa, wg_now(dev)))
		return COOKIE_VALID_MAC_WITH_COOKIE_BUT_RATELIMITED;
	return COOKIE_VALID_MAC_WITH_COOKIE;
}

void wg_cookie_add_macs(struct wg_device *dev, struct wg_peer *peer, uint8_t *msg, size_t len)
{
	struct wg_msg_macs *macs = (struct wg_msg_macs *)(msg + len - sizeof(*macs));
	struct wg_cookie_maker *m = &peer->cookie;

	blake2s_mac128(macs->mac1, m->mac1_key, WG_KEY_LEN, msg, len - sizeof(*macs));
	memcpy(m->last_mac1_sent, macs->mac1, WG_COOKIE_LEN);
	m->have_sent_mac1 = true;

	/* A cookie is good for as long as the secret behind it, less a margin
	 * for the trip it took to reach us. */
	if (m->cookie_valid &&
	    !wg_expired(m->cookie_birthdate, WG_COOKIE_SECRET_MAX_AGE - WG_COOKIE_SECRET_LATENCY,
			wg_now(dev)))
		blake2s_mac128(macs->mac2, m->cookie, WG_COOKIE_LEN, msg, len - WG_COOKIE_LEN);
	else
		memset(macs->mac2, 0, WG_COOKIE_LEN);
}

void wg_cookie_create_reply(struct wg_device *dev, struct wg_msg_cookie *dst, const uint8_t *msg,
			    size_t len, uint32_t receiver_index, const struct wg_endpoint *src)
{
	const struct wg_msg_macs *macs = (const struct wg_msg_macs *)(msg + len - sizeof(*macs));
	uint8_t cookie[WG_COOKIE_LEN];

	memset(dst, 0, sizeof(*dst));
	dst->header.type = WG_MSG_HANDSHAKE_COOKIE;
	dst->receiver_index = receiver_index;
	crypto_random(dst->nonce, sizeof(dst->nonce));
	make_cookie(dev, cookie, src);
	xaead_seal(dst->encrypted_cookie, cookie, WG_COOKIE_LEN, macs->mac1, WG_COOKIE_LEN, dst->nonce,
		   dev->cookie_checker.cookie_encryption_key);
	crypto_wipe(cookie, sizeof(cookie));
}

void wg_cookie_consume_reply(struct wg_device *dev, const struct wg_msg_cookie *src)
{
	struct wg_peer *peer = wg_index_lookup_peer(dev, src->receiver_index);
	struct wg_cookie_maker *m;
	uint8_t cookie[WG_COOKIE_LEN];

	if (!peer)
		return;
	pthread_mutex_lock(&peer->lock);
	m = &peer->cookie;
	/* Only a reply to the message we sent last can decrypt: its mac1 is
	 * the additional data. */
	if (m->have_sent_mac1 &&
	    xaead_open(cookie, src->encrypted_cookie, sizeof(src->encrypted_cookie), m->last_mac1_sent,
		       WG_COOKIE_LEN, src->nonce, m->cookie_decryption_key)) {
		memcpy(m->cookie, cookie, WG_COOKIE_LEN);
		m->cookie_birthdate = wg_now(dev);
		m->cookie_valid = true;
		m->have_sent_mac1 = false;
		wg_log(dev, WG_LOG_VERBOSE, "%s - Received cookie reply", peer->name);
	} else {
		wg_log(dev, WG_LOG_VERBOSE, "%s - Could not decrypt invalid cookie response", peer->name);
	}
	crypto_wipe(cookie, sizeof(cookie));
	pthread_mutex_unlock(&peer->lock);
}
