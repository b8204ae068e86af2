/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's wire formats and every protocol constant, in one place
 * (whitepaper sections 5.4 and 6; wireguard.com/protocol).
 */
#ifndef WEFT_WG_MESSAGES_H
#define WEFT_WG_MESSAGES_H

#include <stdint.h>
#include <string.h>

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

enum wg_message_type {
	WG_MSG_INVALID = 0,
	WG_MSG_HANDSHAKE_INITIATION = 1,
	WG_MSG_HANDSHAKE_RESPONSE = 2,
	WG_MSG_HANDSHAKE_COOKIE = 3,
	WG_MSG_DATA = 4,
};

enum {
	WG_KEY_LEN = 32,
	WG_HASH_LEN = 32,
	WG_COOKIE_LEN = 16,
	WG_COOKIE_NONCE_LEN = 24,
	WG_TIMESTAMP_LEN = 12,
	WG_AUTHTAG_LEN = 16,
	WG_PADDING_MULTIPLE = 16,
	WG_DATA_HEADER_LEN = 16,
	WG_DATA_OVERHEAD = WG_DATA_HEADER_LEN + WG_AUTHTAG_LEN,
	/* The largest WireGuard data message: an IPv6 packet of 65535 bytes. */
	WG_MAX_MESSAGE_LEN = 65535 + WG_DATA_OVERHEAD,
	WG_MAX_PEERS = 1 << 20,
	WG_MAX_STAGED_PACKETS = 128,
	WG_MAX_QUEUED_HANDSHAKES = 4096,
	WG_COUNTER_BITS_TOTAL = 8192,
	WG_COUNTER_WINDOW_SIZE = WG_COUNTER_BITS_TOTAL - 64,
	WG_INITIATIONS_PER_SECOND = 50,
};

/* Timing, in nanoseconds of CLOCK_BOOTTIME (whitepaper section 6.1). */
#define WG_REKEY_AFTER_MESSAGES (1ULL << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - WG_COUNTER_WINDOW_SIZE - 1)
#define WG_REKEY_TIMEOUT (5 * NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT_JITTER_MAX (NSEC_PER_SEC / 3)
#define WG_REKEY_AFTER_TIME (120 * NSEC_PER_SEC)
#define WG_REKEY_ATTEMPT_TIME (90 * NSEC_PER_SEC)
#define WG_REJECT_AFTER_TIME (180 * NSEC_PER_SEC)
#define WG_KEEPALIVE_TIMEOUT (10 * NSEC_PER_SEC)
#define WG_MAX_TIMER_HANDSHAKES (WG_REKEY_ATTEMPT_TIME / WG_REKEY_TIMEOUT)
#define WG_COOKIE_SECRET_MAX_AGE (120 * NSEC_PER_SEC)
#define WG_COOKIE_SECRET_LATENCY (5 * NSEC_PER_SEC)
#define WG_UNDER_LOAD_AFTER_TIME (1 * NSEC_PER_SEC)

/* The first four bytes of every message: type, then three zero bytes. */
struct wg_msg_header {
	uint8_t type;
	uint8_t reserved[3];
};

struct wg_msg_macs {
	uint8_t mac1[WG_COOKIE_LEN];
	uint8_t mac2[WG_COOKIE_LEN];
};

struct wg_msg_initiation {
	struct wg_msg_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[WG_KEY_LEN];
	uint8_t encrypted_static[WG_KEY_LEN + WG_AUTHTAG_LEN];
	uint8_t encrypted_timestamp[WG_TIMESTAMP_LEN + WG_AUTHTAG_LEN];
	struct wg_msg_macs macs;
};

struct wg_msg_response {
	struct wg_msg_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[WG_KEY_LEN];
	uint8_t encrypted_nothing[WG_AUTHTAG_LEN];
	struct wg_msg_macs macs;
};

struct wg_msg_cookie {
	struct wg_msg_header header;
	uint32_t receiver_index;
	uint8_t nonce[WG_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[WG_COOKIE_LEN + WG_AUTHTAG_LEN];
};

struct wg_msg_data {
	struct wg_msg_header header;
	uint32_t receiver_index;
	uint8_t counter[8]; /* little endian */
	uint8_t encrypted_data[];
};

_Static_assert(sizeof(struct wg_msg_initiation) == 148, "initiation is 148 bytes");
_Static_assert(sizeof(struct wg_msg_response) == 92, "response is 92 bytes");
_Static_assert(sizeof(struct wg_msg_cookie) == 64, "cookie reply is 64 bytes");
_Static_assert(sizeof(struct wg_msg_data) == WG_DATA_HEADER_LEN, "data header is 16 bytes");

/* On-wire length of a data message carrying plain_len (padded) bytes. */
static inline uint32_t wg_data_len(uint32_t plain_len)
{
	return plain_len + WG_DATA_OVERHEAD;
}

static inline void wg_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; ++i)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t wg_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; --i)
		v = v << 8 | p[i];
	return v;
}

/* The message type, or WG_MSG_INVALID when the length or reserved bytes
 * do not fit the type. */
static inline enum wg_message_type wg_msg_classify(const uint8_t *p, size_t len)
{
	if (len < sizeof(struct wg_msg_header) || p[1] || p[2] || p[3])
		return WG_MSG_INVALID;
	switch (p[0]) {
	case WG_MSG_HANDSHAKE_INITIATION:
		return len == sizeof(struct wg_msg_initiation) ? WG_MSG_HANDSHAKE_INITIATION : WG_MSG_INVALID;
	case WG_MSG_HANDSHAKE_RESPONSE:
		return len == sizeof(struct wg_msg_response) ? WG_MSG_HANDSHAKE_RESPONSE : WG_MSG_INVALID;
	case WG_MSG_HANDSHAKE_COOKIE:
		return len == sizeof(struct wg_msg_cookie) ? WG_MSG_HANDSHAKE_COOKIE : WG_MSG_INVALID;
	case WG_MSG_DATA:
		return len >= wg_data_len(0) ? WG_MSG_DATA : WG_MSG_INVALID;
	}
	return WG_MSG_INVALID;
}

#endif
