// SPDX-License-Identifier: MIT
#include "nl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/netns.h"

int nl_open(struct nl *nl, int bus, int ns_fd)
{
	int saved, ret, one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->bus = bus;
	ret = netns_enter(ns_fd, &saved);
	if (ret)
		return ret;
	nl->sock = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		nl_close(nl);
		goto out;
	}
	/* Ask for the kernel's reasons with errors, and no echo of our request. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
out:
	netns_leave(saved);
	return ret;
}

void nl_close(struct nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

struct nlmsghdr *nl_msg(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* What one request's callbacks share: libmnl hands the same pointer to
 * data and control callbacks. */
struct req {
	struct nl *nl;
	mnl_cb_t cb;
	void *data;
};

static int ext_ack_cb(const struct nlattr *attr, void *data)
{
	struct nl *nl = data;

	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		snprintf(nl->err, sizeof(nl->err), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

/* Our own error callback: libmnl's drops the extended ACK. */
static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct req *r = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (!e->error)
		return MNL_CB_STOP;
	/* With NETLINK_CAP_ACK the request is not echoed: the TLVs follow. */
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
		mnl_attr_parse(nlh, sizeof(*e), ext_ack_cb, r->nl);
	errno = -e->error;
	return MNL_CB_ERROR;
}

/* The end of a dump. (Given our own control callbacks, libmnl applies
 * none of its defaults, so this one must be ours too.) */
static int done_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_STOP;
}

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct req *r = data;

	return r->cb ? r->cb(nlh, r->data) : MNL_CB_OK;
}

int nl_request(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NL_BUF];
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = error_cb, [NLMSG_DONE] = done_cb };
	struct req r = { nl, cb, data };
	uint32_t seq = ++nl->seq;
	ssize_t n;
	int ret;

	nl->err[0] = '\0';
	nlh->nlmsg_seq = seq;
	/* Request flags share bits (NLM_F_EXCL is NLM_F_MATCH): only both
	 * dump bits make a dump, which ends with NLMSG_DONE instead. */
	if ((nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run2(buf, (size_t)n, seq, nl->portid, data_cb, &r, ctl, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}
