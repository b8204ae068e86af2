// SPDX-License-Identifier: MIT
/*
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper
 * section 5.4), and the session keypairs it yields.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

/* HASH(CONSTRUCTION), then HASH(that || IDENTIFIER): the same for every
 * handshake, so computed once. */
static uint8_t initial_chaining_key[WG_HASH_LEN];
static uint8_t initial_hash[WG_HASH_LEN];
static pthread_once_t constants_once = PTHREAD_ONCE_INIT;

static void compute_constants(void)
{
	blake2s256(initial_chaining_key, construction, sizeof(construction) - 1, NULL, 0, NULL, 0);
	blake2s256(initial_hash, initial_chaining_key, WG_HASH_LEN, identifier, sizeof(identifier) - 1,
		   NULL, 0);
}

void wg_noise_init_constants(void)
{
	pthread_once(&constants_once, compute_constants);
}

void wg_noise_get_constants(uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN])
{
	wg_noise_init_constants();
	memcpy(chaining_key, initial_chaining_key, WG_HASH_LEN);
	memcpy(hash, initial_hash, WG_HASH_LEN);
}

/* HKDF with HMAC-BLAKE2s, yielding one to three 32-byte keys. Outputs may
 * alias the chaining key input. */
static void kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t *data, size_t len,
		const uint8_t chaining_key[WG_HASH_LEN])
{
	uint8_t prk[WG_HASH_LEN], buf[WG_HASH_LEN + 1], out[WG_HASH_LEN];

	hmac_blake2s(prk, chaining_key, data, len);
	buf[0] = 1;
	hmac_blake2s(out, prk, buf, 1);
	memcpy(t1, out, WG_HASH_LEN);
	if (t2) {
		memcpy(buf, out, WG_HASH_LEN);
		buf[WG_HASH_LEN] = 2;
		hmac_blake2s(out, prk, buf, sizeof(buf));
		memcpy(t2, out, WG_HASH_LEN);
	}
	if (t3) {
		memcpy(buf, out, WG_HASH_LEN);
		buf[WG_HASH_LEN] = 3;
		hmac_blake2s(out, prk, buf, sizeof(buf));
		memcpy(t3, out, WG_HASH_LEN);
	}
	crypto_wipe(prk, sizeof(prk));
	crypto_wipe(buf, sizeof(buf));
	crypto_wipe(out, sizeof(out));
}

static void mix_hash(uint8_t hash[WG_HASH_LEN], const void *data, size_t len)
{
	blake2s256(hash, hash, WG_HASH_LEN, data, len, NULL, 0);
}

static bool mix_dh(uint8_t chaining_key[WG_HASH_LEN], uint8_t *key, const uint8_t priv[WG_KEY_LEN],
		   const uint8_t pub[WG_KEY_LEN])
{
	uint8_t dh[WG_KEY_LEN];

	if (!x25519(dh, priv, pub))
		return false;
	kdf(chaining_key, key, NULL, dh, WG_KEY_LEN, chaining_key);
	crypto_wipe(dh, sizeof(dh));
	return true;
}

static bool mix_precomputed_dh(uint8_t chaining_key[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
			       const uint8_t precomputed[WG_KEY_LEN])
{
	if (crypto_is_zero(precomputed, WG_KEY_LEN))
		return false;
	kdf(chaining_key, key, NULL, precomputed, WG_KEY_LEN, chaining_key);
	return true;
}

static void mix_psk(uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN],
		    uint8_t key[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN])
{
	uint8_t temp[WG_HASH_LEN];

	kdf(chaining_key, temp, key, psk, WG_KEY_LEN, chaining_key);
	mix_hash(hash, temp, WG_HASH_LEN);
	crypto_wipe(temp, sizeof(temp));
}

static void message_ephemeral(uint8_t dst[WG_KEY_LEN], const uint8_t src[WG_KEY_LEN],
			      uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN])
{
	if (dst != src)
		memcpy(dst, src, WG_KEY_LEN);
	mix_hash(hash, src, WG_KEY_LEN);
	kdf(chaining_key, NULL, NULL, src, WG_KEY_LEN, chaining_key);
}

static void message_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[WG_KEY_LEN],
			    uint8_t hash[WG_HASH_LEN])
{
	uint8_t nonce[AEAD_NONCE_LEN] = { 0 };

	aead_seal(dst, src, len, hash, WG_HASH_LEN, nonce, key);
	mix_hash(hash, dst, len + WG_AUTHTAG_LEN);
}

static bool message_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[WG_KEY_LEN],
			    uint8_t hash[WG_HASH_LEN])
{
	uint8_t nonce[AEAD_NONCE_LEN] = { 0 };

	if (!aead_open(dst, src, len, hash, WG_HASH_LEN, nonce, key))
		return false;
	mix_hash(hash, src, len);
	return true;
}

/* e: a fresh ephemeral key pair, its public half into the message. */
static bool make_ephemeral(struct wg_handshake *hs, uint8_t dst[WG_KEY_LEN])
{
	x25519_generate_private(hs->ephemeral_private);
	if (!x25519_public(dst, hs->ephemeral_private))
		return false;
	message_ephemeral(dst, dst, hs->chaining_key, hs->hash);
	return true;
}

/* The message's sender index: a fresh random one for this handshake. */
static bool take_index(struct wg_device *dev, struct wg_handshake *hs, uint32_t *sender,
		       enum wg_handshake_state state)
{
	if (wg_index_insert(dev, &hs->entry))
		return false;
	*sender = hs->entry.index;
	hs->state = state;
	return true;
}

static void handshake_init(uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN],
			   const uint8_t remote_static[WG_KEY_LEN])
{
	memcpy(chaining_key, initial_chaining_key, WG_HASH_LEN);
	memcpy(hash, initial_hash, WG_HASH_LEN);
	mix_hash(hash, remote_static, WG_KEY_LEN);
}

/*
 * TAI64N, with the nanoseconds rounded down to a power of two near
 * 1/INITIATIONS_PER_SECOND: enough to order initiations, without giving an
 * observer a fine-grained clock of ours.
 */
static void tai64n_now(struct wg_device *dev, uint8_t out[WG_TIMESTAMP_LEN])
{
	struct timespec ts;
	uint64_t sec;
	uint32_t nsec, granule = 1;

	while (granule * 2 <= NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND)
		granule *= 2;
	dev->ops->walltime(dev->io, &ts);
	sec = 0x400000000000000aULL + (uint64_t)ts.tv_sec;
	nsec = (uint32_t)ts.tv_nsec & ~(granule - 1);
	for (int i = 0; i < 8; ++i)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (int i = 0; i < 4; ++i)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

void wg_noise_precompute_static_static(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_handshake *hs = &peer->handshake;

	/* A low-order peer key, or no identity, leaves zeros, which every
	 * handshake step then refuses. */
	if (!dev->has_identity ||
	    !x25519(hs->precomputed_static_static, dev->static_private, hs->remote_static))
		memset(hs->precomputed_static_static, 0, WG_KEY_LEN);
}

static void handshake_zero(struct wg_handshake *hs)
{
	crypto_wipe(hs->ephemeral_private, WG_KEY_LEN);
	crypto_wipe(hs->remote_ephemeral, WG_KEY_LEN);
	crypto_wipe(hs->hash, WG_HASH_LEN);
	crypto_wipe(hs->chaining_key, WG_HASH_LEN);
	hs->remote_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

void wg_noise_handshake_clear(struct wg_peer *peer)
{
	wg_index_remove(peer->dev, &peer->handshake.entry);
	handshake_zero(&peer->handshake);
}

bool wg_noise_create_initiation(struct wg_device *dev, struct wg_peer *peer,
				struct wg_msg_initiation *dst)
{
	struct wg_handshake *hs = &peer->handshake;
	uint8_t timestamp[WG_TIMESTAMP_LEN], key[WG_KEY_LEN];
	bool ret = false;

	if (!dev->has_identity)
		goto out;
	memset(dst, 0, sizeof(*dst));
	dst->header.type = WG_MSG_HANDSHAKE_INITIATION;

	handshake_init(hs->chaining_key, hs->hash, hs->remote_static);

	if (!make_ephemeral(hs, dst->unencrypted_ephemeral))
		goto out;
	/* es */
	if (!mix_dh(hs->chaining_key, key, hs->ephemeral_private, hs->remote_static))
		goto out;
	/* s */
	message_encrypt(dst->encrypted_static, dev->static_public, WG_KEY_LEN, key, hs->hash);
	/* ss */
	if (!mix_precomputed_dh(hs->chaining_key, key, hs->precomputed_static_static))
		goto out;
	/* {t} */
	tai64n_now(dev, timestamp);
	message_encrypt(dst->encrypted_timestamp, timestamp, WG_TIMESTAMP_LEN, key, hs->hash);

	ret = take_index(dev, hs, &dst->sender_index, HANDSHAKE_CREATED_INITIATION);
out:
	if (!ret)
		wg_noise_handshake_clear(peer);
	crypto_wipe(key, sizeof(key));
	return ret;
}

struct wg_peer *wg_noise_consume_initiation(struct wg_device *dev, const struct wg_msg_initiation *src)
{
	uint8_t key[WG_KEY_LEN], chaining_key[WG_HASH_LEN], hash[WG_HASH_LEN];
	uint8_t s[WG_KEY_LEN], e[WG_KEY_LEN], t[WG_TIMESTAMP_LEN];
	struct wg_peer *peer = NULL, *ret = NULL;
	struct wg_handshake *hs;
	bool replay, flood;
	uint64_t now;

	if (!dev->has_identity)
		goto out;
	handshake_init(chaining_key, hash, dev->static_public);

	/* e */
	message_ephemeral(e, src->unencrypted_ephemeral, chaining_key, hash);
	/* es */
	if (!mix_dh(chaining_key, key, dev->static_private, e))
		goto out;
	/* s */
	if (!message_decrypt(s, src->encrypted_static, sizeof(src->encrypted_static), key, hash))
		goto out;
	peer = wg_pubkey_lookup(dev, s);
	if (!peer)
		goto out;
	pthread_mutex_lock(&peer->lock);
	hs = &peer->handshake;
	/* ss */
	if (!mix_precomputed_dh(chaining_key, key, hs->precomputed_static_static))
		goto unlock;
	/* {t} */
	if (!message_decrypt(t, src->encrypted_timestamp, sizeof(src->encrypted_timestamp), key, hash))
		goto unlock;

	/* A replayed initiation carries an old timestamp; a flood of fresh
	 * ones arrives faster than any honest initiator sends them. */
	now = wg_now(dev);
	replay = memcmp(t, hs->latest_timestamp, WG_TIMESTAMP_LEN) <= 0;
	flood = hs->last_initiation_consumption &&
		hs->last_initiation_consumption + NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND > now;
	if (replay || flood)
		goto unlock;

	memcpy(hs->remote_ephemeral, e, WG_KEY_LEN);
	memcpy(hs->latest_timestamp, t, WG_TIMESTAMP_LEN);
	memcpy(hs->hash, hash, WG_HASH_LEN);
	memcpy(hs->chaining_key, chaining_key, WG_HASH_LEN);
	hs->remote_index = src->sender_index;
	if (now > hs->last_initiation_consumption)
		hs->last_initiation_consumption = now;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
	ret = peer;
unlock:
	if (!ret)
		pthread_mutex_unlock(&peer->lock);
out:
	crypto_wipe(key, sizeof(key));
	crypto_wipe(chaining_key, sizeof(chaining_key));
	crypto_wipe(hash, sizeof(hash));
	crypto_wipe(e, sizeof(e));
	crypto_wipe(t, sizeof(t));
	return ret;
}

bool wg_noise_create_response(struct wg_device *dev, struct wg_peer *peer, struct wg_msg_response *dst)
{
	struct wg_handshake *hs = &peer->handshake;
	uint8_t key[WG_KEY_LEN];
	bool ret = false;

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION)
		goto out;
	memset(dst, 0, sizeof(*dst));
	dst->header.type = WG_MSG_HANDSHAKE_RESPONSE;
	dst->receiver_index = hs->remote_index;

	if (!make_ephemeral(hs, dst->unencrypted_ephemeral))
		goto out;
	/* ee */
	if (!mix_dh(hs->chaining_key, NULL, hs->ephemeral_private, hs->remote_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(hs->chaining_key, NULL, hs->ephemeral_private, hs->remote_static))
		goto out;
	/* psk */
	mix_psk(hs->chaining_key, hs->hash, key, hs->preshared_key);
	/* {} */
	message_encrypt(dst->encrypted_nothing, NULL, 0, key, hs->hash);

	ret = take_index(dev, hs, &dst->sender_index, HANDSHAKE_CREATED_RESPONSE);
out:
	if (!ret)
		wg_noise_handshake_clear(peer);
	crypto_wipe(key, sizeof(key));
	return ret;
}

struct wg_peer *wg_noise_consume_response(struct wg_device *dev, const struct wg_msg_response *src)
{
	uint8_t key[WG_KEY_LEN], chaining_key[WG_HASH_LEN], hash[WG_HASH_LEN], e[WG_KEY_LEN];
	uint8_t ephemeral_private[WG_KEY_LEN];
	struct wg_peer *peer, *ret = NULL;
	struct wg_handshake *hs;

	if (!dev->has_identity)
		return NULL;
	peer = wg_index_lookup_handshake(dev, src->receiver_index);
	if (!peer)
		return NULL;
	pthread_mutex_lock(&peer->lock);
	hs = &peer->handshake;
	if (hs->state != HANDSHAKE_CREATED_INITIATION || hs->entry.index != src->receiver_index)
		goto out;
	/* Work on copies: a forged response must not disturb the handshake. */
	memcpy(chaining_key, hs->chaining_key, WG_HASH_LEN);
	memcpy(hash, hs->hash, WG_HASH_LEN);
	memcpy(ephemeral_private, hs->ephemeral_private, WG_KEY_LEN);

	/* e */
	message_ephemeral(e, src->unencrypted_ephemeral, chaining_key, hash);
	/* ee */
	if (!mix_dh(chaining_key, NULL, ephemeral_private, e))
		goto out;
	/* se */
	if (!mix_dh(chaining_key, NULL, dev->static_private, e))
		goto out;
	/* psk */
	mix_psk(chaining_key, hash, key, hs->preshared_key);
	/* {} */
	if (!message_decrypt(NULL, src->encrypted_nothing, sizeof(src->encrypted_nothing), key, hash))
		goto out;

	memcpy(hs->remote_ephemeral, e, WG_KEY_LEN);
	memcpy(hs->chaining_key, chaining_key, WG_HASH_LEN);
	memcpy(hs->hash, hash, WG_HASH_LEN);
	hs->remote_index = src->sender_index;
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ret = peer;
out:
	if (!ret)
		pthread_mutex_unlock(&peer->lock);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(chaining_key, sizeof(chaining_key));
	crypto_wipe(hash, sizeof(hash));
	crypto_wipe(ephemeral_private, sizeof(ephemeral_private));
	return ret;
}

static void keypair_unslot(struct wg_peer *peer, struct wg_keypair **slot)
{
	struct wg_keypair *kp = *slot;

	if (!kp)
		return;
	*slot = NULL;
	wg_index_remove(peer->dev, &kp->entry);
	wg_keypair_put(kp);
}

void wg_keypair_put(struct wg_keypair *kp)
{
	if (!kp || atomic_fetch_sub_explicit(&kp->refs, 1, memory_order_acq_rel) != 1)
		return;
	crypto_wipe(kp->send_key, WG_KEY_LEN);
	crypto_wipe(kp->recv_key, WG_KEY_LEN);
	pthread_mutex_destroy(&kp->replay_lock);
	free(kp);
}

bool wg_noise_begin_session(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_handshake *hs = &peer->handshake;
	struct wg_keypair *kp;

	if (hs->state != HANDSHAKE_CREATED_RESPONSE && hs->state != HANDSHAKE_CONSUMED_RESPONSE)
		return false;
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return false;
	atomic_init(&kp->refs, 1);
	kp->peer = peer;
	kp->entry.peer = peer;
	kp->entry.keypair = kp;
	kp->initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	kp->birthdate = wg_now(dev);
	kp->remote_index = hs->remote_index;
	pthread_mutex_init(&kp->replay_lock, NULL);
	wg_replay_init(&kp->replay);
	if (kp->initiator)
		kdf(kp->send_key, kp->recv_key, NULL, NULL, 0, hs->chaining_key);
	else
		kdf(kp->recv_key, kp->send_key, NULL, NULL, 0, hs->chaining_key);
	atomic_init(&kp->send_valid, true);
	atomic_init(&kp->recv_valid, true);
	atomic_init(&kp->send_counter, 0);
	/* The session answers to the handshake's index from now on. */
	wg_index_replace(dev, &hs->entry, &kp->entry);
	handshake_zero(hs);

	if (kp->initiator) {
		/* We have confirmation already (the response): use it at once.
		 * A pending "next" session is demoted to "previous" rather than
		 * dropped, so late packets under it still decrypt. */
		if (peer->next) {
			keypair_unslot(peer, &peer->previous);
			peer->previous = peer->next;
			peer->next = NULL;
			keypair_unslot(peer, &peer->current);
		} else {
			keypair_unslot(peer, &peer->previous);
			peer->previous = peer->current;
		}
		peer->current = kp;
	} else {
		/* The responder waits for the initiator's first data packet
		 * before sending with the new session (key confirmation), and
		 * the previous session is superseded. */
		keypair_unslot(peer, &peer->next);
		peer->next = kp;
		keypair_unslot(peer, &peer->previous);
	}
	return true;
}

bool wg_noise_received_with_keypair(struct wg_peer *peer, struct wg_keypair *kp)
{
	if (kp != peer->next)
		return false;
	keypair_unslot(peer, &peer->previous);
	peer->previous = peer->current;
	peer->current = kp;
	peer->next = NULL;
	return true;
}

void wg_noise_keypairs_clear(struct wg_peer *peer)
{
	keypair_unslot(peer, &peer->previous);
	keypair_unslot(peer, &peer->current);
	keypair_unslot(peer, &peer->next);
}

void wg_noise_expire_current_keypairs(struct wg_peer *peer)
{
	wg_noise_handshake_clear(peer);
	if (peer->next)
		atomic_store(&peer->next->send_valid, false);
	if (peer->current)
		atomic_store(&peer->current->send_valid, false);
}
