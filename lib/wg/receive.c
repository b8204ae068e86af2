// SPDX-License-Identifier: MIT
/* What arrives on the socket: data for the interface, and handshake
 * messages, which wait in a queue for wg_device_work. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"
#include "util/addr.h"

enum { RX_CHUNK = 128 };

/* Rekey on the receiving side: if we initiated this session and it is
 * about to be rejected, start the next one now rather than letting the
 * sending path discover it too late. */
static void keep_key_fresh(struct wg_peer *peer, uint64_t now)
{
	struct wg_keypair *kp = peer->current;

	if (kp && atomic_load(&kp->send_valid) && kp->initiator && !peer->sent_lastminute_handshake &&
	    wg_expired(kp->birthdate, WG_REJECT_AFTER_TIME - WG_KEEPALIVE_TIMEOUT - WG_REKEY_TIMEOUT, now)) {
		peer->sent_lastminute_handshake = true;
		wg_send_handshake_initiation(peer, false);
	}
}

/* The length of the IP packet inside a decrypted payload, or 0 when it is
 * not a well-formed one; *family and *src point at its source. */
static uint32_t inner_packet(const uint8_t *p, uint32_t len, int *family, const uint8_t **src)
{
	uint32_t total;

	if (len >= 20 && p[0] >> 4 == 4) {
		total = (uint32_t)p[2] << 8 | p[3];
		*family = AF_INET;
		*src = p + 12;
		if (total < 20)
			return 0;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		total = ((uint32_t)p[4] << 8 | p[5]) + 40;
		*family = AF_INET6;
		*src = p + 8;
	} else {
		return 0;
	}
	return total <= len ? total : 0;
}

/* A run of data messages for one receiver index. */
static void rx_data_run(struct wg_device *dev, struct wg_pkt *pkts, unsigned n, uint64_t now,
			struct wg_buf *out, unsigned *nout)
{
	const struct wg_msg_data *hdr = (const struct wg_msg_data *)pkts[0].data;
	struct wg_keypair *kp = wg_index_lookup_keypair(dev, hdr->receiver_index);
	bool ok[RX_CHUNK], any_data = false;
	uint64_t counter[RX_CHUNK];
	uint8_t nonce[AEAD_NONCE_LEN];
	struct wg_peer *peer;
	int last = -1;
	char a[ADDR_STRLEN];

	if (!kp) {
		atomic_fetch_add(&dev->rx_dropped, n);
		return;
	}
	if (!atomic_load(&kp->recv_valid) || wg_expired(kp->birthdate, WG_REJECT_AFTER_TIME, now)) {
		atomic_store(&kp->recv_valid, false);
		atomic_fetch_add(&dev->rx_dropped, n);
		goto out;
	}
	peer = kp->peer;
	for (unsigned i = 0; i < n; ++i) {
		hdr = (const struct wg_msg_data *)pkts[i].data;
		counter[i] = wg_get_le64(hdr->counter);
		aead_nonce_from_counter(nonce, counter[i]);
		ok[i] = aead_open(pkts[i].data + WG_DATA_HEADER_LEN, pkts[i].data + WG_DATA_HEADER_LEN,
				  pkts[i].len - WG_DATA_HEADER_LEN, NULL, 0, nonce, kp->recv_key);
		if (!ok[i])
			atomic_fetch_add(&dev->rx_errors, 1);
	}
	/* Only authenticated counters may move the window. */
	pthread_mutex_lock(&kp->replay_lock);
	for (unsigned i = 0; i < n; ++i) {
		if (ok[i] && !wg_replay_check(&kp->replay, counter[i])) {
			ok[i] = false;
			atomic_fetch_add(&dev->rx_errors, 1);
			wg_log(dev, WG_LOG_VERBOSE, "%s - Packet has invalid nonce %llu", peer->name,
			       (unsigned long long)counter[i]);
		}
		if (ok[i]) {
			last = (int)i;
			any_data |= pkts[i].len > wg_data_len(0);
		}
	}
	pthread_mutex_unlock(&kp->replay_lock);
	if (last < 0)
		goto out;

	pthread_mutex_lock(&peer->lock);
	/* Roaming: answer wherever the latest authentic packet came from. */
	wg_peer_set_endpoint(peer, &pkts[last].ep);
	if (wg_noise_received_with_keypair(peer, kp)) {
		wg_timers_handshake_complete(peer);
		wg_send_staged(peer);
	}
	keep_key_fresh(peer, now);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now);
	if (any_data)
		wg_timers_data_received(peer, now);
	pthread_mutex_unlock(&peer->lock);

	for (unsigned i = 0; i < n; ++i) {
		uint8_t *plain = pkts[i].data + WG_DATA_HEADER_LEN;
		uint32_t plain_len = pkts[i].len - WG_DATA_OVERHEAD, len;
		const uint8_t *src;
		int family;
		struct wg_aip_owner *owner;

		if (!ok[i])
			continue;
		if (!plain_len) {
			atomic_fetch_add_explicit(&peer->rx_bytes, pkts[i].len, memory_order_relaxed);
			wg_log(dev, WG_LOG_VERBOSE, "%s - Receiving keepalive packet", peer->name);
			continue;
		}
		len = inner_packet(plain, plain_len, &family, &src);
		if (!len) {
			atomic_fetch_add(&dev->rx_errors, 1);
			wg_log(dev, WG_LOG_VERBOSE, "%s - Packet is neither a valid IPv4 nor IPv6 packet",
			       peer->name);
			continue;
		}
		/* Cryptokey routing, inbound: the inner source must be one of
		 * the sending peer's allowed IPs. */
		owner = wg_allowedips_lookup(&dev->allowedips, family, src);
		if (owner != &peer->allowedips) {
			char ip[INET6_ADDRSTRLEN];

			atomic_fetch_add(&dev->rx_errors, 1);
			inet_ntop(family, src, ip, sizeof(ip));
			wg_log(dev, WG_LOG_VERBOSE, "%s - Packet has unallowed src IP (%s) from %s", peer->name, ip,
			       addr_format_endpoint(a, &pkts[i].ep.addr.sa));
			continue;
		}
		atomic_fetch_add_explicit(&peer->rx_bytes, pkts[i].len, memory_order_relaxed);
		out[*nout].data = plain;
		out[*nout].len = len;
		++*nout;
	}
out:
	wg_keypair_put(kp);
}

static void enqueue_handshake(struct wg_device *dev, const struct wg_pkt *pkt)
{
	struct wg_hsq_item *item;

	if (atomic_load(&dev->hsq_len) >= WG_MAX_QUEUED_HANDSHAKES || !(item = malloc(sizeof(*item)))) {
		atomic_fetch_add(&dev->rx_dropped, 1);
		return;
	}
	item->next = NULL;
	item->src = pkt->ep;
	item->len = pkt->len;
	memcpy(item->data, pkt->data, pkt->len);
	pthread_mutex_lock(&dev->hsq_lock);
	*dev->hsq_tail = item;
	dev->hsq_tail = &item->next;
	atomic_fetch_add(&dev->hsq_len, 1);
	pthread_mutex_unlock(&dev->hsq_lock);
}

void wg_device_rx(struct wg_device *dev, struct wg_pkt *pkts, unsigned n)
{
	struct wg_buf out[RX_CHUNK];
	unsigned nout = 0, i = 0, j;
	uint64_t now = wg_now(dev);
	bool queued = false;

	pthread_rwlock_rdlock(&dev->cfg_lock);
	while (i < n) {
		enum wg_message_type type = wg_msg_classify(pkts[i].data, pkts[i].len);

		if (type == WG_MSG_DATA) {
			const struct wg_msg_data *hdr = (const struct wg_msg_data *)pkts[i].data;

			if (nout + RX_CHUNK > RX_CHUNK && nout) {
				dev->ops->deliver(dev->io, out, nout);
				nout = 0;
			}
			for (j = i + 1; j < n && j - i < RX_CHUNK; ++j) {
				const struct wg_msg_data *h = (const struct wg_msg_data *)pkts[j].data;

				if (wg_msg_classify(pkts[j].data, pkts[j].len) != WG_MSG_DATA ||
				    h->receiver_index != hdr->receiver_index)
					break;
			}
			rx_data_run(dev, pkts + i, j - i, now, out, &nout);
			i = j;
			continue;
		}
		if (type == WG_MSG_INVALID) {
			atomic_fetch_add(&dev->rx_dropped, 1);
		} else {
			enqueue_handshake(dev, &pkts[i]);
			queued = true;
		}
		++i;
	}
	if (nout)
		dev->ops->deliver(dev->io, out, nout);
	pthread_rwlock_unlock(&dev->cfg_lock);
	if (queued)
		dev->ops->wake(dev->io);
}

static struct wg_hsq_item *dequeue_handshake(struct wg_device *dev)
{
	struct wg_hsq_item *item;

	pthread_mutex_lock(&dev->hsq_lock);
	item = dev->hsq_head;
	if (item) {
		dev->hsq_head = item->next;
		if (!dev->hsq_head)
			dev->hsq_tail = &dev->hsq_head;
		atomic_fetch_sub(&dev->hsq_len, 1);
	}
	pthread_mutex_unlock(&dev->hsq_lock);
	return item;
}

static void handshake_one(struct wg_device *dev, struct wg_hsq_item *item, bool under_load, uint64_t now)
{
	enum wg_message_type type = item->data[0];
	enum wg_cookie_mac_state mac_state;
	struct wg_peer *peer = NULL;
	bool needs_cookie;
	char a[ADDR_STRLEN];

	if (type == WG_MSG_HANDSHAKE_COOKIE) {
		wg_cookie_consume_reply(dev, (const struct wg_msg_cookie *)item->data);
		return;
	}
	mac_state = wg_cookie_validate(dev, item->data, item->len, &item->src, under_load);
	if ((under_load && mac_state == COOKIE_VALID_MAC_WITH_COOKIE) ||
	    (!under_load && mac_state == COOKIE_VALID_MAC_BUT_NO_COOKIE)) {
		needs_cookie = false;
	} else if (under_load && mac_state == COOKIE_VALID_MAC_BUT_NO_COOKIE) {
		needs_cookie = true;
	} else {
		wg_log(dev, WG_LOG_VERBOSE, "Invalid MAC of handshake, dropping packet from %s",
		       addr_format_endpoint(a, &item->src.addr.sa));
		return;
	}

	if (needs_cookie) {
		/* Both messages carry the sender's index at the same place. */
		uint32_t sender_index;

		memcpy(&sender_index, item->data + offsetof(struct wg_msg_initiation, sender_index),
		       sizeof(sender_index));
		wg_log(dev, WG_LOG_VERBOSE, "Sending cookie response for denied handshake message for %s",
		       addr_format_endpoint(a, &item->src.addr.sa));
		wg_send_cookie(dev, item, sender_index);
		return;
	}
	if (type == WG_MSG_HANDSHAKE_INITIATION)
		peer = wg_noise_consume_initiation(dev, (const struct wg_msg_initiation *)item->data);
	else
		peer = wg_noise_consume_response(dev, (const struct wg_msg_response *)item->data);
	if (!peer) {
		wg_log(dev, WG_LOG_VERBOSE, "Invalid handshake %s from %s",
		       type == WG_MSG_HANDSHAKE_INITIATION ? "initiation" : "response",
		       addr_format_endpoint(a, &item->src.addr.sa));
		return;
	}
	wg_peer_set_endpoint(peer, &item->src);
	wg_log(dev, WG_LOG_VERBOSE, "%s - Received handshake %s", peer->name,
	       type == WG_MSG_HANDSHAKE_INITIATION ? "initiation" : "response");
	if (type == WG_MSG_HANDSHAKE_INITIATION) {
		wg_send_handshake_response(peer);
	} else if (wg_noise_begin_session(dev, peer)) {
		wg_timers_session_derived(peer, now);
		wg_timers_handshake_complete(peer);
		/* Confirms the session to the responder: staged packets if
		 * there are any, else an empty one. */
		wg_send_keepalive(peer);
	}
	atomic_fetch_add_explicit(&peer->rx_bytes, item->len, memory_order_relaxed);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now);
	pthread_mutex_unlock(&peer->lock);
}

/* cfg_lock held for reading. Returns after at most max messages. */
unsigned wg_receive_handshakes(struct wg_device *dev, unsigned max)
{
	struct wg_hsq_item *item;
	unsigned done = 0;

	while (done < max && (item = dequeue_handshake(dev))) {
		uint64_t now = wg_now(dev);
		/* Under load while the queue is an eighth full, and for a second
		 * after: then initiators must prove their address (mac2). */
		bool under_load = atomic_load(&dev->hsq_len) >= WG_MAX_QUEUED_HANDSHAKES / 8;

		if (under_load)
			dev->last_under_load = now;
		else if (dev->last_under_load)
			under_load = !wg_expired(dev->last_under_load, WG_UNDER_LOAD_AFTER_TIME, now);
		if (dev->up)
			handshake_one(dev, item, under_load, now);
		free(item);
		++done;
	}
	return done;
}
