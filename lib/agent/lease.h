/* SPDX-License-Identifier: MIT */
/*
 * The cluster's gateway lease as a candidate node sees it (weftd --gateway,
 * src/weftd/gateway.c): a state machine whose states are named for what
 * happened, moved by the manager's answer to each renewal (once a second).
 * Pure, so tests/unit/test_lease.c walks it without a manager or a clock.
 *
 *   STARTING, STANDING_BY ──granted──► ELECTED ──the cluster joined a broker──► SERVING
 *        ▲                      │  ▲                                     │
 *        │                      │  └──────the cluster left it───────────┤
 *        └── another holds it, or no renewal for LEASE_STEP_DOWN_MS ◄──── LAPSING
 *   REFUSED: an admin has not allowed this node (any answer 403).
 */
#ifndef WEFT_LEASE_H
#define WEFT_LEASE_H

#include <stdbool.h>
#include <stdint.h>

/* The manager's lease, in seconds, until its first answer says ("ttl"). */
#define LEASE_TTL_DEFAULT 4

enum lease_state {
	LEASE_STARTING,	   /* not asked yet */
	LEASE_STANDING_BY, /* no lease: another node holds it */
	LEASE_REFUSED,	   /* the manager says an admin has not allowed us */
	LEASE_ELECTED,	   /* ours; the cluster has joined no broker */
	LEASE_SERVING,	   /* ours; the device is up and the broker followed */
	LEASE_LAPSING,	   /* ours until now, and the renewal failed: still serving */
};

enum lease_answer {
	LEASE_GRANTED,	      /* 200 without a federation */
	LEASE_GRANTED_JOINED, /* 200 with the federation to follow */
	LEASE_NOT_ALLOWED,    /* 403 */
	LEASE_HELD_ELSEWHERE, /* 409 */
	LEASE_NO_ANSWER,      /* the manager away, 5xx, anything else */
};

struct lease_step {
	enum lease_state next;
	bool serve;	  /* bring the device up and follow the broker (idempotent) */
	bool unserve;	  /* the device down, the broker left: the cluster left it */
	bool step_down;	  /* no longer the gateway: all of it down */
	bool new_holder;  /* became the gateway: say so */
	bool look_around; /* first seen standing by, or refused at start: remove a device left over */
};

enum lease_answer lease_answer_of(int status, bool joined);
/* ms_since_renewed: since the last renewal that was granted was sent.
 * Without one for longer than step_down_ms a holder steps down. */
struct lease_step lease_next(enum lease_state s, enum lease_answer a, int64_t ms_since_renewed, int64_t step_down_ms);
/*
 * How long a holder may go without a granted renewal, from when it sent the
 * last one, for a lease of ttl_s seconds. The manager stamps a renewal when
 * it gets it, after we sent it, and holds the lease for us through the
 * whole second it ends in (lib/cluster/lease.c), so no other node gets it
 * for ttl_s seconds after we sent; we step down a second before, which is
 * for the managers' clocks and for taking the device down. Two gateways
 * would split the traffic between them. The renewal in flight is given up
 * at that moment too (gateway.c): a manager that hangs does not keep us
 * serving.
 */
int64_t lease_step_down_ms(int ttl_s);
bool lease_held(enum lease_state s);
const char *lease_state_name(enum lease_state s);

#endif
