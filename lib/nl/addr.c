// SPDX-License-Identifier: MIT
/* rtnetlink addresses. */
#include <errno.h>
#include <string.h>
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

struct addr_find {
	int ifindex, family;
	const void *addr;
	uint8_t prefixlen;
	bool found;
};

static int addr_find_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_find *f = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct nlattr *attr;
	size_t len = f->family == AF_INET ? 4 : 16;

	if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != f->family || (int)ifa->ifa_index != f->ifindex ||
	    ifa->ifa_prefixlen != f->prefixlen)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(*ifa))
	{
		/* IFA_LOCAL is the address on a point-to-point link, IFA_ADDRESS
		 * elsewhere; either one matching is the address. */
		if ((mnl_attr_get_type(attr) == IFA_LOCAL || mnl_attr_get_type(attr) == IFA_ADDRESS) &&
		    mnl_attr_get_payload_len(attr) == len && !memcmp(mnl_attr_get_payload(attr), f->addr, len))
			f->found = true;
	}
	return MNL_CB_OK;
}

int nl_addr_has(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_find f = { ifindex, family, addr, prefixlen, false };
	int ret;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	ifa->ifa_family = (uint8_t)family;
	ret = nl_request(nl, nlh, addr_find_cb, &f);
	return ret ? ret : f.found;
}
