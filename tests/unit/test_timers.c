// SPDX-License-Identifier: MIT
/* The timer state machine of whitepaper section 6, on the simulated clock. */
#include "test.h"

#include "sim.h"
#include "util/key.h"
#include "wg/core.h"

#define SEC NSEC_PER_SEC

static struct wg_peer *first_peer(struct sim_dev *d)
{
	return list_entry(d->dev->peers.next, struct wg_peer, link);
}

static struct sim_net *connected(struct sim_dev **a, struct sim_dev **b)
{
	struct sim_net *net = sim_new();

	*a = sim_add(net);
	*b = sim_add(net);
	sim_pair(*a, "10.0.0.1/32", *b, "10.0.0.2/32", true, true);
	sim_send_ip(*a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	sim_send_ip(*b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	sim_reset_counts(net);
	return net;
}

/* The initiator starts a new handshake when its session is REKEY_AFTER_TIME
 * old and it sends, not before. */
TEST(rekey_after_time_120s)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);

	for (int t = 0; t < 11; ++t) {
		sim_advance(net, 10 * SEC);
		sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
		sim_run(net);
		sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
		sim_run(net);
	}
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 0);
	CHECK(b->sent[WG_MSG_HANDSHAKE_INITIATION] == 0);
	sim_advance(net, 10 * SEC); /* 120 s */
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 1);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1);
	/* The responder does not rekey on time: only the initiator does. */
	CHECK(b->sent[WG_MSG_HANDSHAKE_INITIATION] == 0);
	CHECK(b->delivered == 12);
	sim_free(net);
}

/* A session is never used past REJECT_AFTER_TIME: with the peer silent,
 * data stays staged rather than going out under the old keys. */
TEST(reject_after_time_180s)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);
	unsigned data_before;

	b->mute = true; /* b receives but can't answer: no new session */
	sim_advance(net, 170 * SEC);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(a->sent[WG_MSG_DATA] >= 1); /* still within 180 s */
	sim_advance(net, 11 * SEC);       /* 181 s */
	data_before = a->sent[WG_MSG_DATA];
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(a->sent[WG_MSG_DATA] == data_before);
	CHECK(first_peer(a)->staged_count == 1);
	/* Nor is anything received under it: b's own sending is refused too. */
	b->mute = false;
	CHECK(atomic_load(&first_peer(b)->current->send_valid));
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(!atomic_load(&first_peer(b)->current->send_valid));
	/* A fresh session carries what both sides staged. */
	sim_advance(net, 10 * SEC);
	CHECK(a->delivered == 1 && b->delivered == 2);
	sim_free(net);
}

/* Unanswered initiations are retried every REKEY_TIMEOUT (plus up to 1/3 s
 * of jitter) until REKEY_ATTEMPT_TIME: 20 in all, then give up and drop
 * what was staged. */
TEST(handshake_retries_then_gives_up)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	b->bound = false;
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 1);
	sim_advance(net, 5 * SEC - 1);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 1);
	sim_advance(net, WG_REKEY_TIMEOUT_JITTER_MAX + 1);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 2);
	sim_advance(net, 100 * SEC);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 20);
	CHECK(first_peer(a)->staged_count == 0);
	CHECK(first_peer(a)->timer[TIMER_ZERO_KEY_MATERIAL] != 0);
	sim_advance(net, 600 * SEC);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 20);
	/* New traffic starts a new round. */
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 21);
	sim_free(net);
}

/* Data received and nothing sent back for KEEPALIVE_TIMEOUT: a keepalive. */
TEST(passive_keepalive_after_10s)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);

	sim_advance(net, 30 * SEC); /* let the handshake's own keepalives pass */
	sim_reset_counts(net);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(a->sent[WG_MSG_DATA] == 0);
	sim_advance(net, 10 * SEC - 1);
	CHECK(a->sent[WG_MSG_DATA] == 0);
	sim_advance(net, 2);
	CHECK(a->sent[WG_MSG_DATA] == 1); /* an empty data message */
	CHECK(b->delivered == 0);        /* keepalives are not delivered */
	sim_advance(net, 60 * SEC);
	CHECK(a->sent[WG_MSG_DATA] == 1);
	/* Answering with data instead cancels it. */
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	sim_advance(net, 5 * SEC);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	sim_advance(net, 20 * SEC);
	CHECK(a->sent[WG_MSG_DATA] == 2);
	sim_free(net);
}

/* Data sent and nothing heard for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: a new
 * handshake. */
TEST(new_handshake_after_15s_of_silence)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);

	b->mute = true;
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	sim_advance(net, 15 * SEC - 1);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 0);
	sim_advance(net, WG_REKEY_TIMEOUT_JITTER_MAX + 2);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 1);
	sim_free(net);
}

TEST(persistent_keepalive)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);
	char cmd[256], hex[65];

	key_to_hex(hex, b->pub);
	snprintf(cmd, sizeof(cmd), "public_key=%s\npersistent_keepalive_interval=25\n", hex);
	CHECK(sim_set(a, cmd) == 0);
	sim_run(net);
	CHECK(a->sent[WG_MSG_DATA] == 1); /* switching it on sends one at once */
	sim_advance(net, 100 * SEC + 1);
	CHECK(a->sent[WG_MSG_DATA] == 5);
	CHECK(b->sent[WG_MSG_DATA] == 0);
	snprintf(cmd, sizeof(cmd), "public_key=%s\npersistent_keepalive_interval=0\n", hex);
	CHECK(sim_set(a, cmd) == 0);
	sim_advance(net, 100 * SEC);
	CHECK(a->sent[WG_MSG_DATA] == 5);
	sim_free(net);
}

/* Nothing for 3 * REJECT_AFTER_TIME after the last session: every key goes. */
TEST(keys_zeroed_after_540s)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);
	struct wg_peer *pa = first_peer(a), *pb = first_peer(b);

	CHECK(pa->current && pb->current);
	sim_advance(net, 3 * WG_REJECT_AFTER_TIME - SEC);
	CHECK(pa->current && pb->current);
	sim_advance(net, 2 * SEC);
	CHECK(!pa->current && !pa->previous && !pa->next);
	CHECK(!pb->current && !pb->previous && !pb->next);
	CHECK(pa->handshake.state == HANDSHAKE_ZEROED);
	CHECK(a->dev->nindices == 0 && b->dev->nindices == 0);
	/* And a new session can still be made. */
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	sim_free(net);
}

/* Sessions rotate: previous, current, next, and older ones are freed. */
TEST(keypair_rotation_keeps_three_at_most)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);

	for (int i = 0; i < 5; ++i) {
		sim_advance(net, 121 * SEC);
		sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
		sim_run(net);
		sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
		sim_run(net);
	}
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 5);
	CHECK(b->delivered == 5 && a->delivered == 5);
	CHECK(a->dev->nindices <= 3 && b->dev->nindices <= 3);
	sim_free(net);
}

/* The message-count limits, reached by moving the session's counter: past
 * REKEY_AFTER_MESSAGES the next send starts a handshake (either side);
 * nothing is sent at REJECT_AFTER_MESSAGES. */
TEST(rekey_and_reject_after_messages)
{
	struct sim_dev *a, *b;
	struct sim_net *net = connected(&a, &b);
	struct wg_peer *pb = first_peer(b);

	sim_advance(net, 6 * SEC); /* past REKEY_TIMEOUT since the handshake */
	atomic_store(&pb->current->send_counter, WG_REKEY_AFTER_MESSAGES + 1);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(a->delivered == 1);
	CHECK(b->sent[WG_MSG_HANDSHAKE_INITIATION] == 1); /* the responder rekeys too */

	sim_advance(net, 6 * SEC);
	pb = first_peer(b);
	atomic_store(&pb->current->send_counter, WG_REJECT_AFTER_MESSAGES - 1);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	/* The first of those took the last nonce; the second waits for a new
	 * session, which then carries it. */
	sim_run(net);
	CHECK(a->delivered == 3);
	CHECK(b->sent[WG_MSG_HANDSHAKE_INITIATION] == 2);
	sim_free(net);
}
