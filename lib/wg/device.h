/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard device core: what a host (weft-wg, the node agent, tests)
 * links against. The core does no I/O of its own: the host hands it packets
 * and datagrams and supplies callbacks to send, deliver, read clocks and log.
 * A process may host any number of devices; the core keeps no globals.
 *
 * Threads: wg_device_tx, wg_device_rx and wg_device_work may run at once on
 * different threads (typically one each); wg_device_set/get may be called
 * from any thread. No callback is invoked with a lock the host could need.
 */
#ifndef WEFT_WG_DEVICE_H
#define WEFT_WG_DEVICE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"

struct wg_device;

/* A remote UDP address, and the local address and interface it was reached
 * on, so that replies leave from where the peer expects them. */
struct wg_endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	int src_ifindex;
};

struct wg_buf {
	uint8_t *data;
	uint32_t len;
};

/* One packet in a batch. For wg_device_tx, the IP packet starts at
 * data + WG_DATA_HEADER_LEN and cap leaves room for padding and the tag
 * (wg_tx_room()). For wg_device_rx, data holds the datagram and ep its
 * source. */
struct wg_pkt {
	uint8_t *data;
	uint32_t len;
	uint32_t cap;
	struct wg_endpoint ep;
};

/* As BIRD's L_ERR, L_WARN, L_INFO and L_DEBUG: a program shows the levels
 * up to the one it is set to. The device itself logs errors and verbose
 * detail only, as wireguard-go does. */
enum wg_log_level {
	WG_LOG_ERROR = 1,
	WG_LOG_WARNING = 2,
	WG_LOG_INFO = 3, /* normal events: a peer joined, a lease taken */
	WG_LOG_VERBOSE = 4,
};

struct wg_device_ops {
	/* Monotonic nanoseconds that keep counting across suspend. */
	uint64_t (*now)(void *io);
	/* Wall-clock time, for handshake timestamps and last_handshake_time. */
	void (*walltime)(void *io, struct timespec *ts);
	/* Sends n messages to ep; returns 0 or a negative errno. The host clears
	 * ep's source address when it no longer routes and retries. */
	int (*send)(void *io, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n);
	/* Hands n decrypted IP packets to the interface. */
	void (*deliver)(void *io, const struct wg_buf *bufs, unsigned n);
	/* Asks the host to call wg_device_work() soon: handshakes are queued,
	 * or a timer now expires before the deadline it last returned. */
	void (*wake)(void *io);
	/* Binds the UDP socket(s) to *port (0: any, then set to the bound port)
	 * with fwmark, replacing any earlier binding only on success. Called
	 * with the device locked: it must not call back into the device. */
	int (*bind)(void *io, uint16_t *port, uint32_t fwmark);
	/* Closes the UDP socket(s). */
	void (*unbind)(void *io);
	/* Optional. */
	void (*log)(void *io, enum wg_log_level level, const char *msg);
};

/* Returns NULL and sets errno on failure. */
struct wg_device *wg_device_new(const struct wg_device_ops *ops, void *io);
void wg_device_free(struct wg_device *dev);

/* The interface went up or down (the kernel's ndo_open and ndo_stop): up
 * binds the socket and starts peers; down stops them and drops sessions. */
int wg_device_up(struct wg_device *dev);
void wg_device_down(struct wg_device *dev);
bool wg_device_is_up(struct wg_device *dev);
void wg_device_set_mtu(struct wg_device *dev, uint32_t mtu);
void wg_device_set_log_level(struct wg_device *dev, enum wg_log_level level);

/* Applies a configuration change as one transaction: either all of it
 * takes effect or, on error, none. Returns 0 or a negative errno
 * (-EADDRINUSE when the port is taken, -ENOSPC past WG_MAX_PEERS). */
int wg_device_set(struct wg_device *dev, const struct wg_config *cfg);
/* Returns the current configuration and state; free with wg_config_free. */
struct wg_config *wg_device_get(struct wg_device *dev);

/* Bytes a tx packet of len bytes needs from data: header, padding, tag. */
static inline uint32_t wg_tx_room(uint32_t len)
{
	return 16 + ((len + 15) & ~15u) + 16;
}

/* Encrypts and sends packets read from the interface, or stages them until
 * a session exists. Packets may be rewritten in place. */
void wg_device_tx(struct wg_device *dev, struct wg_pkt *pkts, unsigned n);
/* Processes datagrams received on the UDP socket: data is decrypted in
 * place and delivered; handshake messages are queued for wg_device_work. */
void wg_device_rx(struct wg_device *dev, struct wg_pkt *pkts, unsigned n);
/* Processes queued handshake messages and expired timers. Returns the
 * CLOCK_BOOTTIME deadline (ns) at which it wants to run again, or
 * UINT64_MAX for none. */
uint64_t wg_device_work(struct wg_device *dev);

struct wg_device_stats {
	uint64_t rx_dropped, tx_dropped, rx_errors, tx_errors, handshakes_queued;
};
void wg_device_get_stats(struct wg_device *dev, struct wg_device_stats *st);

#endif
