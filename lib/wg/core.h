/* SPDX-License-Identifier: MIT */
/*
 * The device core's internal types, shared by its files (one per protocol
 * concept: noise, cookie, lookup, peer, timers, send, receive, device).
 *
 * Locking, outermost first:
 *   dev->cfg_lock (rwlock)  writers: configuration changes, up/down.
 *                           Readers: every tx/rx batch and every work pass.
 *                           Peers and the allowed-IPs trie change only
 *                           under the write lock, so a reader may use any
 *                           peer pointer it finds until it unlocks.
 *   peer->lock (mutex)      the peer's handshake, keypair slots, endpoint,
 *                           timers, cookie state and staged packets.
 *   dev->index_lock, dev->timer_lock, dev->hsq_lock, keypair->replay_lock
 *                           leaves: nothing else is taken while held.
 * Keypairs are reference counted: the data path takes a reference under
 * index_lock or peer->lock and drops it when the batch is done, so a
 * keypair rotated out meanwhile lives until then.
 */
#ifndef WEFT_WG_CORE_H
#define WEFT_WG_CORE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "allowedips.h"
#include "device.h"
#include "messages.h"
#include "ratelimiter.h"
#include "replay.h"
#include "util/list.h"

struct wg_peer;

/* What a receiver index stands for: a handshake in progress or a session. */
struct wg_index_entry {
	struct wg_index_entry *next;
	uint32_t index; /* 0 when not in the table */
	struct wg_peer *peer;
	struct wg_keypair *keypair; /* NULL for a handshake */
};

struct wg_keypair {
	atomic_int refs;
	struct wg_index_entry entry;
	struct wg_peer *peer;
	uint64_t birthdate;
	bool initiator;
	atomic_bool send_valid, recv_valid;
	atomic_uint_fast64_t send_counter;
	uint32_t remote_index;
	uint8_t send_key[WG_KEY_LEN];
	uint8_t recv_key[WG_KEY_LEN];
	pthread_mutex_t replay_lock;
	struct wg_replay replay;
};

/* Named for what happened last. */
enum wg_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

struct wg_handshake {
	enum wg_handshake_state state;
	struct wg_index_entry entry;
	uint32_t remote_index;
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t precomputed_static_static[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN];
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t latest_timestamp[WG_TIMESTAMP_LEN];
	uint64_t last_initiation_consumption;
};

/* The sending side of cookies: MAC keys for one peer, and the cookie it
 * last gave us. */
struct wg_cookie_maker {
	uint8_t mac1_key[WG_KEY_LEN];
	uint8_t cookie_decryption_key[WG_KEY_LEN];
	uint8_t last_mac1_sent[WG_COOKIE_LEN];
	bool have_sent_mac1;
	uint8_t cookie[WG_COOKIE_LEN];
	uint64_t cookie_birthdate;
	bool cookie_valid;
};

/* The receiving side: our own MAC keys and the rotating cookie secret. */
struct wg_cookie_checker {
	pthread_mutex_t lock;
	uint8_t mac1_key[WG_KEY_LEN];
	uint8_t cookie_encryption_key[WG_KEY_LEN];
	uint8_t secret[WG_HASH_LEN];
	uint64_t secret_birthdate;
	bool secret_set;
};

enum wg_timer {
	TIMER_RETRANSMIT_HANDSHAKE,
	TIMER_SEND_KEEPALIVE,
	TIMER_NEW_HANDSHAKE,
	TIMER_ZERO_KEY_MATERIAL,
	TIMER_PERSISTENT_KEEPALIVE,
	TIMER_COUNT,
};

struct wg_staged {
	uint32_t len;
	uint8_t data[]; /* header room, then the packet, then tag room */
};

struct wg_peer {
	struct wg_device *dev;
	struct list link;            /* dev->peers, in insertion order */
	struct wg_peer *hash_next;   /* dev->peer_buckets */
	struct wg_aip_owner allowedips;
	pthread_mutex_t lock;
	uint64_t id;
	char name[24]; /* for logs: peer(AbCd…wXyZ) */

	struct wg_handshake handshake;
	struct wg_cookie_maker cookie;
	struct wg_keypair *current, *previous, *next;

	struct wg_endpoint endpoint;
	bool has_endpoint;
	uint16_t persistent_keepalive; /* seconds */
	atomic_uint_fast64_t rx_bytes, tx_bytes;
	struct timespec last_handshake_wall;
	uint64_t last_sent_handshake;

	/* Timers: a deadline per kind (0 when not pending); the peer sits in
	 * the device's heap under its earliest deadline. */
	uint64_t timer[TIMER_COUNT];
	size_t heap_index; /* SIZE_MAX when not in the heap */
	uint64_t heap_key;
	unsigned handshake_attempts;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;

	struct wg_staged *staged[WG_MAX_STAGED_PACKETS];
	unsigned staged_head, staged_count;
};

struct wg_hsq_item {
	struct wg_hsq_item *next;
	struct wg_endpoint src;
	uint32_t len;
	uint8_t data[sizeof(struct wg_msg_initiation)];
};

struct wg_device {
	const struct wg_device_ops *ops;
	void *io;
	pthread_rwlock_t cfg_lock;
	atomic_int log_level;
	atomic_uint mtu;
	bool up;

	/* Identity (cfg_lock) */
	bool has_identity;
	uint8_t static_private[WG_KEY_LEN];
	uint8_t static_public[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;

	struct wg_cookie_checker cookie_checker;
	struct wg_ratelimiter ratelimiter;
	struct wg_allowedips allowedips;

	/* Peers (cfg_lock): a list in insertion order and a hash by key. */
	struct list peers;
	size_t npeers;
	struct wg_peer **peer_buckets;
	size_t npeer_buckets;
	uint8_t peer_hash_key[16];
	uint64_t next_peer_id;

	/* Receiver indices (index_lock). */
	pthread_mutex_t index_lock;
	struct wg_index_entry **index_buckets;
	size_t nindex_buckets, nindices;

	/* Timers (timer_lock): a binary min-heap of peers. */
	pthread_mutex_t timer_lock;
	struct wg_peer **heap;
	size_t heap_len, heap_cap;
	uint64_t next_wake;

	/* Incoming handshake messages (hsq_lock). */
	pthread_mutex_t hsq_lock;
	struct wg_hsq_item *hsq_head, **hsq_tail;
	atomic_uint hsq_len;
	uint64_t last_under_load;

	atomic_uint_fast64_t rx_dropped, tx_dropped, rx_errors, tx_errors;
};

/* device.c */
void wg_log(struct wg_device *dev, enum wg_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline uint64_t wg_now(struct wg_device *dev)
{
	return dev->ops->now(dev->io);
}
static inline bool wg_expired(uint64_t birthdate, uint64_t age, uint64_t now)
{
	return birthdate + age <= now;
}

/* lookup.c */
int wg_index_init(struct wg_device *dev);
void wg_index_free(struct wg_device *dev);
/* Gives entry a fresh random index (dropping any old one). */
int wg_index_insert(struct wg_device *dev, struct wg_index_entry *entry);
/* Moves old's index to new. */
void wg_index_replace(struct wg_device *dev, struct wg_index_entry *old, struct wg_index_entry *new);
void wg_index_remove(struct wg_device *dev, struct wg_index_entry *entry);
/* Finds a handshake entry; returns its peer or NULL. */
struct wg_peer *wg_index_lookup_handshake(struct wg_device *dev, uint32_t index);
/* Finds any entry's peer (cookie replies answer either kind). */
struct wg_peer *wg_index_lookup_peer(struct wg_device *dev, uint32_t index);
/* Finds a session and takes a reference on it. */
struct wg_keypair *wg_index_lookup_keypair(struct wg_device *dev, uint32_t index);
int wg_pubkey_table_init(struct wg_device *dev);
void wg_pubkey_table_free(struct wg_device *dev);
struct wg_peer *wg_pubkey_lookup(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
int wg_pubkey_insert(struct wg_device *dev, struct wg_peer *peer);
void wg_pubkey_remove(struct wg_device *dev, struct wg_peer *peer);

/* noise.c: all take peer->lock held unless said otherwise. */
void wg_noise_init_constants(void);
/* HASH(CONSTRUCTION) and HASH(that || IDENTIFIER), for the tests. */
void wg_noise_get_constants(uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN]);
void wg_noise_precompute_static_static(struct wg_device *dev, struct wg_peer *peer);
bool wg_noise_create_initiation(struct wg_device *dev, struct wg_peer *peer,
				struct wg_msg_initiation *dst);
/* Needs only cfg_lock; returns the initiator's peer locked, or NULL. */
struct wg_peer *wg_noise_consume_initiation(struct wg_device *dev, const struct wg_msg_initiation *src);
bool wg_noise_create_response(struct wg_device *dev, struct wg_peer *peer, struct wg_msg_response *dst);
/* Needs only cfg_lock; returns the peer locked, or NULL. */
struct wg_peer *wg_noise_consume_response(struct wg_device *dev, const struct wg_msg_response *src);
bool wg_noise_begin_session(struct wg_device *dev, struct wg_peer *peer);
/* A packet authenticated with kp: confirms a pending session. True if
 * that rotated kp into place. */
bool wg_noise_received_with_keypair(struct wg_peer *peer, struct wg_keypair *kp);
void wg_noise_handshake_clear(struct wg_peer *peer);
void wg_noise_keypairs_clear(struct wg_peer *peer);
void wg_noise_expire_current_keypairs(struct wg_peer *peer);
void wg_keypair_put(struct wg_keypair *kp);
static inline struct wg_keypair *wg_keypair_get(struct wg_keypair *kp)
{
	atomic_fetch_add_explicit(&kp->refs, 1, memory_order_relaxed);
	return kp;
}

/* cookie.c */
enum wg_cookie_mac_state {
	COOKIE_INVALID_MAC,
	COOKIE_VALID_MAC_BUT_NO_COOKIE,
	COOKIE_VALID_MAC_WITH_COOKIE_BUT_RATELIMITED,
	COOKIE_VALID_MAC_WITH_COOKIE,
};
void wg_cookie_checker_init(struct wg_cookie_checker *c);
void wg_cookie_checker_free(struct wg_cookie_checker *c);
void wg_cookie_checker_precompute(struct wg_device *dev);
void wg_cookie_maker_init(struct wg_cookie_maker *m, const uint8_t peer_public[WG_KEY_LEN]);
enum wg_cookie_mac_state wg_cookie_validate(struct wg_device *dev, const uint8_t *msg, size_t len,
					    const struct wg_endpoint *src, bool check_cookie);
void wg_cookie_add_macs(struct wg_device *dev, struct wg_peer *peer, uint8_t *msg, size_t len);
void wg_cookie_create_reply(struct wg_device *dev, struct wg_msg_cookie *dst, const uint8_t *msg,
			    size_t len, uint32_t receiver_index, const struct wg_endpoint *src);
/* Needs only cfg_lock. */
void wg_cookie_consume_reply(struct wg_device *dev, const struct wg_msg_cookie *src);

/* peer.c */
struct wg_peer *wg_peer_create(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN]);
/* cfg_lock held for writing. */
void wg_peer_remove(struct wg_peer *peer);
void wg_peer_remove_all(struct wg_device *dev);
void wg_peer_set_endpoint(struct wg_peer *peer, const struct wg_endpoint *ep);
void wg_peer_clear_endpoint_src(struct wg_peer *peer);
void wg_peer_stage(struct wg_peer *peer, const uint8_t *pkt, uint32_t len);
void wg_peer_purge_staged(struct wg_peer *peer);

/* timers.c: the event hooks, each to be called when its comment says. */
void wg_timers_init(struct wg_peer *peer);
void wg_timers_stop(struct wg_peer *peer);
void wg_timers_data_sent(struct wg_peer *peer, uint64_t now);
void wg_timers_data_received(struct wg_peer *peer, uint64_t now);
void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer);
void wg_timers_any_authenticated_packet_received(struct wg_peer *peer);
void wg_timers_handshake_initiated(struct wg_peer *peer, uint64_t now);
void wg_timers_handshake_complete(struct wg_peer *peer);
void wg_timers_session_derived(struct wg_peer *peer, uint64_t now);
void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer, uint64_t now);
/* Runs every expired timer; returns the next deadline. cfg_lock held. */
uint64_t wg_timers_run(struct wg_device *dev, uint64_t now);
void wg_timers_heap_free(struct wg_device *dev);

/* send.c: peer->lock held. */
void wg_send_handshake_initiation(struct wg_peer *peer, bool is_retry);
void wg_send_handshake_response(struct wg_peer *peer);
void wg_send_cookie(struct wg_device *dev, const struct wg_hsq_item *item, uint32_t sender_index);
void wg_send_keepalive(struct wg_peer *peer);
void wg_send_staged(struct wg_peer *peer);
void wg_send_keep_key_fresh(struct wg_peer *peer, uint64_t now);
int wg_send_buffer(struct wg_peer *peer, uint8_t *buf, uint32_t len);

/* receive.c */
/* cfg_lock held for reading; processes at most max queued messages. */
unsigned wg_receive_handshakes(struct wg_device *dev, unsigned max);

#endif
