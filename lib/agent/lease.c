// SPDX-License-Identifier: MIT
/* The gateway lease as a candidate sees it (lease.h). */
#include "agent/lease.h"

enum lease_answer lease_answer_of(int status, bool joined)
{
	switch (status) {
	case 200:
		return joined ? LEASE_GRANTED_JOINED : LEASE_GRANTED;
	case 403:
		return LEASE_NOT_ALLOWED;
	case 409:
		return LEASE_HELD_ELSEWHERE;
	}
	return LEASE_NO_ANSWER;
}

bool lease_held(enum lease_state s)
{
	return s == LEASE_ELECTED || s == LEASE_SERVING || s == LEASE_LAPSING;
}

int64_t lease_step_down_ms(int ttl_s)
{
	return (ttl_s > 2 ? ttl_s - 1 : 1) * 1000LL;
}

struct lease_step lease_next(enum lease_state s, enum lease_answer a, int64_t ms_since_renewed, int64_t step_down_ms)
{
	struct lease_step step = { .next = s };
	bool held = lease_held(s);

	switch (a) {
	case LEASE_GRANTED_JOINED:
		step.next = LEASE_SERVING;
		step.serve = true;
		step.new_holder = !held;
		break;
	case LEASE_GRANTED:
		step.next = LEASE_ELECTED;
		step.new_holder = !held;
		/* Serving, or lapsing with the device up: the cluster left
		 * its broker. */
		step.unserve = s == LEASE_SERVING || s == LEASE_LAPSING;
		break;
	case LEASE_NOT_ALLOWED:
		step.next = LEASE_REFUSED;
		step.step_down = held;
		/* Denied while we were away: a device from our last term goes. */
		step.look_around = s == LEASE_STARTING;
		break;
	case LEASE_HELD_ELSEWHERE:
		step.next = LEASE_STANDING_BY;
		step.step_down = held;
		step.look_around = s != LEASE_STANDING_BY;
		break;
	case LEASE_NO_ANSWER:
		if (!held)
			break;
		if (ms_since_renewed > step_down_ms) {
			/* By now another node may hold it. */
			step.next = LEASE_STANDING_BY;
			step.step_down = true;
		} else {
			step.next = LEASE_LAPSING;
		}
		break;
	}
	return step;
}

const char *lease_state_name(enum lease_state s)
{
	switch (s) {
	case LEASE_STARTING:
		return "starting";
	case LEASE_STANDING_BY:
		return "standing by";
	case LEASE_REFUSED:
		return "not allowed";
	case LEASE_ELECTED:
		return "elected";
	case LEASE_SERVING:
		return "serving";
	case LEASE_LAPSING:
		return "lapsing";
	}
	return "?";
}
