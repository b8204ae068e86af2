// SPDX-License-Identifier: MIT
#include "nl/linkmon.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <time.h>

#include "util/netns.h"

/* Big enough for any one link message (MNL_SOCKET_BUFFER_SIZE is not a constant). */
enum { NL_BUFFER = 16384 };

static int request_link(struct mnl_socket *nl, uint32_t seq, int ifindex)
{
	char buf[NL_BUFFER];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ? -errno : 0;
}

int linkmon_open(struct linkmon *m, int ifindex, int ns_fd)
{
	int saved, ret;

	m->ifindex = ifindex;
	m->seq = (uint32_t)time(NULL);
	ret = netns_enter(ns_fd, &saved);
	if (ret)
		return ret;
	m->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->nl) {
		ret = -errno;
		goto out;
	}
	if (mnl_socket_bind(m->nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		linkmon_close(m);
		goto out;
	}
	ret = request_link(m->nl, ++m->seq, ifindex);
	if (ret)
		linkmon_close(m);
out:
	netns_leave(saved);
	return ret;
}

void linkmon_close(struct linkmon *m)
{
	if (m->nl)
		mnl_socket_close(m->nl);
	m->nl = NULL;
}

int linkmon_fd(const struct linkmon *m)
{
	return mnl_socket_get_fd(m->nl);
}

struct parse_ctx {
	struct linkmon *m;
	struct link_state *st;
	bool changed;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *ctx = data;

	if (mnl_attr_get_type(attr) == IFLA_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
		uint32_t mtu = mnl_attr_get_u32(attr);

		if (mtu != ctx->st->mtu) {
			ctx->st->mtu = mtu;
			ctx->changed = true;
		}
	}
	return MNL_CB_OK;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct parse_ctx *ctx = data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (ifi->ifi_index != ctx->m->ifindex)
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_DELLINK) {
		ctx->changed |= ctx->st->exists;
		ctx->st->exists = false;
		ctx->st->up = false;
		return MNL_CB_OK;
	}
	if (!ctx->st->exists || ctx->st->up != !!(ifi->ifi_flags & IFF_UP))
		ctx->changed = true;
	ctx->st->exists = true;
	ctx->st->up = !!(ifi->ifi_flags & IFF_UP);
	mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, ctx);
	return MNL_CB_OK;
}

int linkmon_read(struct linkmon *m, struct link_state *st)
{
	char buf[NL_BUFFER];
	struct parse_ctx ctx = { m, st, false };

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(m->nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				/* We missed events: ask for the state again. */
				request_link(m->nl, ++m->seq, m->ifindex);
				continue;
			}
			return -errno;
		}
		/* Replies and events alike; errors (e.g. ENODEV) say it is gone. */
		if (mnl_cb_run(buf, (size_t)n, 0, 0, msg_cb, &ctx) < 0 && errno == ENODEV) {
			ctx.changed |= st->exists;
			st->exists = false;
			st->up = false;
		}
	}
	return ctx.changed;
}
