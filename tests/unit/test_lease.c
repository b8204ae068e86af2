// SPDX-License-Identifier: MIT
/* The gateway lease as a candidate sees it (lib/agent/lease): each answer
 * of the manager in each state. */
#include "test.h"

#include "agent/lease.h"

/* For the manager's default lease, 4 s. */
#define STEP_DOWN lease_step_down_ms(LEASE_TTL_DEFAULT)

TEST(lease_granted_then_joined_then_left)
{
	struct lease_step s = lease_next(LEASE_STARTING, LEASE_GRANTED, 0, STEP_DOWN);

	CHECK(s.next == LEASE_ELECTED && s.new_holder && !s.serve && !s.step_down);
	s = lease_next(LEASE_ELECTED, LEASE_GRANTED_JOINED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_SERVING && s.serve && !s.new_holder);
	s = lease_next(LEASE_SERVING, LEASE_GRANTED_JOINED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_SERVING && s.serve && !s.unserve); /* serve is idempotent */
	s = lease_next(LEASE_SERVING, LEASE_GRANTED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_ELECTED && s.unserve && !s.step_down);
}

TEST(lease_renewal_failing_lapses_then_steps_down)
{
	struct lease_step s = lease_next(LEASE_SERVING, LEASE_NO_ANSWER, 1000, STEP_DOWN);

	CHECK(s.next == LEASE_LAPSING && !s.step_down);
	s = lease_next(LEASE_LAPSING, LEASE_NO_ANSWER, STEP_DOWN, STEP_DOWN);
	CHECK(s.next == LEASE_LAPSING && !s.step_down);
	s = lease_next(LEASE_LAPSING, LEASE_NO_ANSWER, STEP_DOWN + 1, STEP_DOWN);
	CHECK(s.next == LEASE_STANDING_BY && s.step_down);
	/* Renewed in time: serving again, not a new holder. */
	s = lease_next(LEASE_LAPSING, LEASE_GRANTED_JOINED, 2000, STEP_DOWN);
	CHECK(s.next == LEASE_SERVING && s.serve && !s.new_holder);
	/* Without the lease, silence changes nothing. */
	s = lease_next(LEASE_STANDING_BY, LEASE_NO_ANSWER, 100000, STEP_DOWN);
	CHECK(s.next == LEASE_STANDING_BY && !s.step_down && !s.look_around);
}

TEST(lease_taken_by_another_or_refused)
{
	struct lease_step s = lease_next(LEASE_SERVING, LEASE_HELD_ELSEWHERE, 0, STEP_DOWN);

	CHECK(s.next == LEASE_STANDING_BY && s.step_down);
	s = lease_next(LEASE_STARTING, LEASE_HELD_ELSEWHERE, 0, STEP_DOWN);
	CHECK(s.next == LEASE_STANDING_BY && s.look_around && !s.step_down);
	s = lease_next(LEASE_STANDING_BY, LEASE_HELD_ELSEWHERE, 0, STEP_DOWN);
	CHECK(!s.look_around); /* once, on arrival */
	s = lease_next(LEASE_ELECTED, LEASE_NOT_ALLOWED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_REFUSED && s.step_down);
	CHECK(!s.look_around); /* the step down takes the device */
	s = lease_next(LEASE_REFUSED, LEASE_NOT_ALLOWED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_REFUSED && !s.step_down && !s.look_around);
	/* Denied while it was down: what it left behind goes at start. */
	s = lease_next(LEASE_STARTING, LEASE_NOT_ALLOWED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_REFUSED && s.look_around && !s.step_down);
	s = lease_next(LEASE_REFUSED, LEASE_GRANTED, 0, STEP_DOWN);
	CHECK(s.next == LEASE_ELECTED && s.new_holder); /* an admin allowed us */
}

TEST(lease_answers_from_statuses)
{
	CHECK(lease_answer_of(200, false) == LEASE_GRANTED && lease_answer_of(200, true) == LEASE_GRANTED_JOINED);
	CHECK(lease_answer_of(403, true) == LEASE_NOT_ALLOWED && lease_answer_of(409, false) == LEASE_HELD_ELSEWHERE);
	CHECK(lease_answer_of(-5, false) == LEASE_NO_ANSWER && lease_answer_of(503, false) == LEASE_NO_ANSWER);
	CHECK(lease_answer_of(404, false) == LEASE_NO_ANSWER && lease_answer_of(401, false) == LEASE_NO_ANSWER);
}

TEST(lease_step_down_before_the_manager_could_give_it_away)
{
	/* The manager holds a lease through the second it ends in: ttl s
	 * after the renewal was sent at the least, and we go a second sooner. */
	CHECK(lease_step_down_ms(4) == 3000);
	CHECK(lease_step_down_ms(20) == 19000);
	/* The shortest lease the manager allows still leaves a second. */
	CHECK(lease_step_down_ms(2) == 1000);
}
