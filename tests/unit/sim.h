/* SPDX-License-Identifier: MIT */
/*
 * A simulated network for the device core: devices wired together through
 * their callbacks, on one injected clock, with every datagram on the
 * "wire" visible to the test.
 */
#ifndef WEFT_TEST_SIM_H
#define WEFT_TEST_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/device.h"
#include "wg/messages.h"

enum { SIM_MAX_DEVS = 8, SIM_MAX_WIRE = 4096, SIM_MAX_DELIVERED = 4096 };

struct sim_net;

struct sim_datagram {
	struct wg_endpoint src, dst;
	uint32_t len;
	uint8_t data[2048];
};

struct sim_dev {
	struct sim_net *net;
	struct wg_device *dev;
	struct wg_endpoint addr;
	uint16_t port;
	uint8_t priv[32], pub[32];
	uint64_t next_deadline;
	unsigned sent[5];          /* by message type */
	unsigned delivered;
	uint8_t last_delivered[2048];
	uint32_t last_delivered_len;
	bool bound;
	bool mute;                 /* drop everything it sends */
};

struct sim_net {
	uint64_t now;
	struct sim_dev devs[SIM_MAX_DEVS];
	unsigned ndevs;
	struct sim_datagram *wire;
	unsigned nwire;
	/* Optional: return false to drop a datagram. */
	bool (*filter)(struct sim_net *net, struct sim_datagram *d);
	unsigned dropped;
};

struct sim_net *sim_new(void);
void sim_free(struct sim_net *net);
/* A device at 10.99.0.<n>:port with a fresh key; brought up. */
struct sim_dev *sim_add(struct sim_net *net);
/* Makes a and b peers of each other: a's allowed IPs are a_ips (one
 * prefix string), and each knows the other's endpoint if with_endpoint. */
void sim_pair(struct sim_dev *a, const char *a_ips, struct sim_dev *b, const char *b_ips, bool a_knows_b,
	      bool b_knows_a);
/* Sends an IPv4 packet from src to dst address with payload bytes. */
void sim_send_ip(struct sim_dev *d, const char *src, const char *dst, unsigned payload);
/* Delivers all datagrams on the wire (and what they cause) until quiet. */
void sim_run(struct sim_net *net);
/* Moves the clock forward by ns, running timers as they fall due. */
void sim_advance(struct sim_net *net, uint64_t ns);
int sim_set(struct sim_dev *d, const char *uapi);
/* Counts of message types sent by d since the last reset. */
void sim_reset_counts(struct sim_net *net);

#endif
