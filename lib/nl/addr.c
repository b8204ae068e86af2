// SPDX-License-Identifier: MIT
/* rtnetlink addresses. */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "nl.h"

static int addr_change(struct nl *nl, uint16_t type, uint16_t flags, int ifindex, int family, const void *addr,
		       uint8_t prefixlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = family == AF_INET ? 4 : 16;

	if ((family != AF_INET && family != AF_INET6) || prefixlen > len * 8)
		return -EINVAL;
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = (uint32_t)ifindex;
	/* No duplicate address detection: these addresses are ours alone. */
	if (family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	mnl_attr_put(nlh, IFA_LOCAL, len, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_addr_add(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	return addr_change(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, family, addr, prefixlen);
}

int nl_addr_del(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	return addr_change(nl, RTM_DELADDR, 0, ifindex, family, addr, prefixlen);
}
