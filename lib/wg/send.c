// SPDX-License-Identifier: MIT
/* What leaves the device: handshake messages, cookie replies, keepalives,
 * staged packets, and the data path from the interface to the socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

enum { TX_CHUNK = 128 };

/* Sends one message to the peer's endpoint. peer->lock held. */
int wg_send_buffer(struct wg_peer *peer, uint8_t *buf, uint32_t len)
{
	struct wg_buf b = { buf, len };
	int ret;

	if (!peer->has_endpoint)
		return -EDESTADDRREQ;
	ret = peer->dev->ops->send(peer->dev->io, &peer->endpoint, &b, 1);
	if (!ret)
		atomic_fetch_add_explicit(&peer->tx_bytes, len, memory_order_relaxed);
	return ret;
}

void wg_send_handshake_initiation(struct wg_peer *peer, bool is_retry)
{
	struct wg_device *dev = peer->dev;
	struct wg_msg_initiation msg;
	uint64_t now = wg_now(dev);

	if (!is_retry)
		peer->handshake_attempts = 0;
	/* At most one initiation per REKEY_TIMEOUT, whoever asks. */
	if (!wg_expired(peer->last_sent_handshake, WG_REKEY_TIMEOUT, now) || !dev->up)
		return;
	peer->last_sent_handshake = now;
	wg_log(dev, WG_LOG_VERBOSE, "%s - Sending handshake initiation", peer->name);
	if (!wg_noise_create_initiation(dev, peer, &msg))
		return;
	wg_cookie_add_macs(dev, peer, (uint8_t *)&msg, sizeof(msg));
	wg_timers_any_authenticated_packet_traversal(peer, now);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_send_buffer(peer, (uint8_t *)&msg, sizeof(msg));
	wg_timers_handshake_initiated(peer, now);
}

void wg_send_handshake_response(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_msg_response msg;
	uint64_t now = wg_now(dev);

	peer->last_sent_handshake = now;
	wg_log(dev, WG_LOG_VERBOSE, "%s - Sending handshake response", peer->name);
	if (!wg_noise_create_response(dev, peer, &msg))
		return;
	wg_cookie_add_macs(dev, peer, (uint8_t *)&msg, sizeof(msg));
	if (!wg_noise_begin_session(dev, peer))
		return;
	wg_timers_session_derived(peer, now);
	wg_timers_any_authenticated_packet_traversal(peer, now);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_send_buffer(peer, (uint8_t *)&msg, sizeof(msg));
}

void wg_send_cookie(struct wg_device *dev, const struct wg_hsq_item *item, uint32_t sender_index)
{
	struct wg_msg_cookie msg;
	struct wg_endpoint ep = item->src;
	struct wg_buf b = { (uint8_t *)&msg, sizeof(msg) };

	wg_cookie_create_reply(dev, &msg, item->data, item->len, sender_index, &item->src);
	dev->ops->send(dev->io, &ep, &b, 1);
}

/* Bytes of zero padding for a packet of len bytes: up to a multiple of 16,
 * but never beyond the MTU (mtu 0: keepalives, no limit). */
static uint32_t padding(uint32_t len, uint32_t mtu)
{
	uint32_t last = len, padded;

	if (!mtu)
		return ((len + WG_PADDING_MULTIPLE - 1) & ~(uint32_t)(WG_PADDING_MULTIPLE - 1)) - len;
	if (last > mtu)
		last %= mtu;
	padded = (last + WG_PADDING_MULTIPLE - 1) & ~(uint32_t)(WG_PADDING_MULTIPLE - 1);
	if (padded > mtu)
		padded = mtu;
	return padded - last;
}

/* Turns the plaintext at msg + 16 into a data message; returns its length. */
static uint32_t seal(const struct wg_keypair *kp, uint64_t counter, uint8_t *msg, uint32_t len, uint32_t mtu)
{
	struct wg_msg_data *hdr = (struct wg_msg_data *)msg;
	uint8_t nonce[AEAD_NONCE_LEN];
	uint32_t pad = padding(len, mtu);

	memset(msg + WG_DATA_HEADER_LEN + len, 0, pad);
	len += pad;
	memset(&hdr->header, 0, sizeof(hdr->header));
	hdr->header.type = WG_MSG_DATA;
	hdr->receiver_index = kp->remote_index;
	wg_put_le64(hdr->counter, counter);
	aead_nonce_from_counter(nonce, counter);
	aead_seal(msg + WG_DATA_HEADER_LEN, msg + WG_DATA_HEADER_LEN, len, NULL, 0, nonce, kp->send_key);
	return wg_data_len(len);
}

static bool keypair_usable(struct wg_keypair *kp, uint64_t now)
{
	if (!kp || !atomic_load(&kp->send_valid))
		return false;
	if (wg_expired(kp->birthdate, WG_REJECT_AFTER_TIME, now) ||
	    atomic_load(&kp->send_counter) >= WG_REJECT_AFTER_MESSAGES) {
		atomic_store(&kp->send_valid, false);
		return false;
	}
	return true;
}

/* Rekey on the sending side: after REKEY_AFTER_MESSAGES, or when our own
 * session is REKEY_AFTER_TIME old. */
void wg_send_keep_key_fresh(struct wg_peer *peer, uint64_t now)
{
	struct wg_keypair *kp = peer->current;

	if (kp && atomic_load(&kp->send_valid) &&
	    (atomic_load(&kp->send_counter) > WG_REKEY_AFTER_MESSAGES ||
	     (kp->initiator && wg_expired(kp->birthdate, WG_REKEY_AFTER_TIME, now))))
		wg_send_handshake_initiation(peer, false);
}

/* After packets went out under the current session. */
static void data_sent(struct wg_peer *peer, uint64_t now, uint64_t bytes, bool any_data, int send_ret)
{
	wg_timers_any_authenticated_packet_traversal(peer, now);
	wg_timers_any_authenticated_packet_sent(peer);
	if (!send_ret) {
		atomic_fetch_add_explicit(&peer->tx_bytes, bytes, memory_order_relaxed);
		if (any_data)
			wg_timers_data_sent(peer, now);
	}
	wg_send_keep_key_fresh(peer, now);
}

/*
 * Sends everything staged under the current session, or, lacking a usable
 * one, keeps it staged and asks for a handshake.
 */
void wg_send_staged(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_buf bufs[WG_MAX_STAGED_PACKETS];
	struct wg_staged *taken[WG_MAX_STAGED_PACKETS];
	struct wg_keypair *kp = peer->current;
	uint64_t now = wg_now(dev), first, bytes = 0;
	uint32_t mtu = atomic_load(&dev->mtu);
	unsigned n = peer->staged_count;
	bool any_data = false;
	int ret;

	if (!n || !dev->up)
		return;
	if (!keypair_usable(kp, now))
		goto need_handshake;
	first = atomic_fetch_add(&kp->send_counter, n);
	if (first + n > WG_REJECT_AFTER_MESSAGES || first + n < first) {
		atomic_store(&kp->send_valid, false);
		goto need_handshake;
	}
	for (unsigned i = 0; i < n; ++i) {
		struct wg_staged *s = peer->staged[(peer->staged_head + i) % WG_MAX_STAGED_PACKETS];

		taken[i] = s;
		any_data |= s->len != 0;
		bufs[i].data = s->data;
		bufs[i].len = seal(kp, first + i, s->data, s->len, s->len ? mtu : 0);
		bytes += bufs[i].len;
	}
	peer->staged_count = 0;
	peer->staged_head = 0;
	if (peer->has_endpoint)
		ret = dev->ops->send(dev->io, &peer->endpoint, bufs, n);
	else
		ret = -EDESTADDRREQ;
	for (unsigned i = 0; i < n; ++i)
		free(taken[i]);
	data_sent(peer, now, bytes, any_data, ret);
	return;

need_handshake:
	wg_send_handshake_initiation(peer, false);
}

void wg_send_keepalive(struct wg_peer *peer)
{
	if (!peer->staged_count) {
		wg_peer_stage(peer, NULL, 0);
		wg_log(peer->dev, WG_LOG_VERBOSE, "%s - Sending keepalive packet", peer->name);
	}
	wg_send_staged(peer);
}

/* The peer whose allowed IPs hold the packet's destination. */
static struct wg_peer *route(struct wg_device *dev, const uint8_t *ip, uint32_t len)
{
	struct wg_aip_owner *owner = NULL;

	if (len >= 20 && ip[0] >> 4 == 4)
		owner = wg_allowedips_lookup(&dev->allowedips, AF_INET, ip + 16);
	else if (len >= 40 && ip[0] >> 4 == 6)
		owner = wg_allowedips_lookup(&dev->allowedips, AF_INET6, ip + 24);
	return owner ? container_of(owner, struct wg_peer, allowedips) : NULL;
}

/* Endpoints are equal as far as where packets go. */
static bool same_addr(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	if (a->addr.sa.sa_family != b->addr.sa.sa_family)
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->addr.in4.sin_port == b->addr.in4.sin_port &&
		       a->addr.in4.sin_addr.s_addr == b->addr.in4.sin_addr.s_addr;
	return a->addr.in6.sin6_port == b->addr.in6.sin6_port &&
	       !memcmp(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr, sizeof(struct in6_addr));
}

static bool has_src(const struct wg_endpoint *ep)
{
	static const struct in6_addr zero;

	return ep->src_ifindex || memcmp(&ep->src6, &zero, sizeof(zero));
}

/* One peer's run of packets from a tx batch. */
static void tx_run(struct wg_device *dev, struct wg_peer *peer, struct wg_pkt *pkts, unsigned n,
		   uint64_t now, uint32_t mtu)
{
	struct wg_buf bufs[TX_CHUNK];
	struct wg_endpoint ep;
	struct wg_keypair *kp;
	uint64_t first, bytes = 0;
	int ret;

	pthread_mutex_lock(&peer->lock);
	if (!peer->has_endpoint) {
		pthread_mutex_unlock(&peer->lock);
		wg_log(dev, WG_LOG_VERBOSE, "%s - No valid endpoint has been configured or discovered",
		       peer->name);
		atomic_fetch_add(&dev->tx_errors, n);
		return;
	}
	kp = peer->current;
	if (peer->staged_count || !keypair_usable(kp, now) || !dev->up)
		goto stage;
	first = atomic_fetch_add(&kp->send_counter, n);
	if (first + n > WG_REJECT_AFTER_MESSAGES || first + n < first) {
		atomic_store(&kp->send_valid, false);
		goto stage;
	}
	wg_keypair_get(kp);
	ep = peer->endpoint;
	pthread_mutex_unlock(&peer->lock);

	/* Encrypt and send without the peer's lock: the receive path may
	 * want it meanwhile. */
	for (unsigned i = 0; i < n; ++i) {
		bufs[i].data = pkts[i].data;
		bufs[i].len = seal(kp, first + i, pkts[i].data, pkts[i].len, mtu);
		bytes += bufs[i].len;
	}
	ret = dev->ops->send(dev->io, &ep, bufs, n);
	if (ret)
		atomic_fetch_add(&dev->tx_errors, n);

	pthread_mutex_lock(&peer->lock);
	/* The host dropped a source address that stopped working: forget it
	 * too, unless the peer roamed meanwhile. */
	if (same_addr(&ep, &peer->endpoint) && !has_src(&ep) && has_src(&peer->endpoint))
		wg_peer_clear_endpoint_src(peer);
	data_sent(peer, now, bytes, true, ret);
	pthread_mutex_unlock(&peer->lock);
	wg_keypair_put(kp);
	return;

stage:
	for (unsigned i = 0; i < n; ++i)
		wg_peer_stage(peer, pkts[i].data + WG_DATA_HEADER_LEN, pkts[i].len);
	wg_send_staged(peer);
	pthread_mutex_unlock(&peer->lock);
}

void wg_device_tx(struct wg_device *dev, struct wg_pkt *pkts, unsigned n)
{
	uint64_t now = wg_now(dev);
	uint32_t mtu = atomic_load(&dev->mtu);
	struct wg_peer *peer, *next_peer;
	unsigned i = 0, j;

	pthread_rwlock_rdlock(&dev->cfg_lock);
	peer = n ? route(dev, pkts[0].data + WG_DATA_HEADER_LEN, pkts[0].len) : NULL;
	while (i < n) {
		/* Runs of consecutive packets to one peer share a lock, a
		 * session reference and one send call. */
		for (j = i + 1, next_peer = NULL; j < n && j - i < TX_CHUNK; ++j) {
			next_peer = route(dev, pkts[j].data + WG_DATA_HEADER_LEN, pkts[j].len);
			if (next_peer != peer)
				break;
		}
		if (j == n || j - i == TX_CHUNK)
			next_peer = j < n ? route(dev, pkts[j].data + WG_DATA_HEADER_LEN, pkts[j].len) : NULL;
		if (peer)
			tx_run(dev, peer, pkts + i, j - i, now, mtu);
		else
			atomic_fetch_add(&dev->tx_dropped, j - i);
		i = j;
		peer = next_peer;
	}
	pthread_rwlock_unlock(&dev->cfg_lock);
}
