// SPDX-License-Identifier: MIT
/*
 * lib/nft: the masquerade table's command, as text (no root), and applied
 * in a network namespace of a forked child's own (root), read back with
 * libnftables. Nothing outside that namespace is touched.
 */
#include "test.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nft/masq.h"
#include "nft/nft.h"

static struct ipam_prefix P(const char *s)
{
	struct ipam_prefix p;

	if (ipam_prefix_parse(&p, s))
		memset(&p, 0, sizeof(p));
	return p;
}

/* Pods and exclusions only, masquerading everywhere (ipMasq on). */
static char *format2(const struct ipam_prefix *pods, size_t npods, const struct ipam_prefix *keep, size_t nkeep,
		     char *err, size_t errlen)
{
	struct nft_masq m = { .pods = pods, .npods = npods, .keep = keep, .nkeep = nkeep, .everywhere = true };

	return nft_masq_format(&m, err, errlen);
}

TEST(nft_masq_format_both_families)
{
	struct ipam_prefix pods[] = { P("10.244.1.0/24"), P("fd00:244:1::/64") };
	struct ipam_prefix keep[] = { P("10.244.1.0/24"), P("10.244.2.0/24"), P("fd00:244:1::/64"), P("10.244.2.0/24"),
				      P("10.250.0.0/16") };
	static const char want[] =
		"add table inet weft\n"
		"delete table inet weft\n"
		"add table inet weft\n"
		"add set inet weft pods4 { type ipv4_addr; flags interval; auto-merge; }\n"
		"add element inet weft pods4 { 10.244.1.0/24 }\n"
		"add set inet weft nodes4 { type ipv4_addr; flags interval; auto-merge; }\n"
		"add element inet weft nodes4 { 192.168.1.12/32 }\n"
		"add set inet weft keep4 { type ipv4_addr; flags interval; auto-merge; }\n"
		"add element inet weft keep4 { 10.244.1.0/24, 10.244.2.0/24, 10.250.0.0/16 }\n"
		"add set inet weft direct4 { type ipv4_addr; flags interval; auto-merge; }\n"
		"add element inet weft direct4 { 10.244.1.7/32 }\n"
		"add set inet weft pods6 { type ipv6_addr; flags interval; auto-merge; }\n"
		"add element inet weft pods6 { fd00:244:1::/64 }\n"
		"add set inet weft nodes6 { type ipv6_addr; flags interval; auto-merge; }\n"
		"add set inet weft keep6 { type ipv6_addr; flags interval; auto-merge; }\n"
		"add element inet weft keep6 { fd00:244:1::/64 }\n"
		"add set inet weft direct6 { type ipv6_addr; flags interval; auto-merge; }\n"
		"add chain inet weft postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
		"add rule inet weft postrouting ip saddr @pods4 ip daddr @nodes4 masquerade\n"
		"add rule inet weft postrouting ip saddr @pods4 ip saddr != @direct4 ip daddr != @keep4 masquerade\n"
		"add rule inet weft postrouting ip6 saddr @pods6 ip6 daddr @nodes6 masquerade\n"
		"add rule inet weft postrouting ip6 saddr @pods6 ip6 saddr != @direct6 ip6 daddr != @keep6 masquerade\n";
	struct ipam_prefix nodes[] = { P("192.168.1.12/32") }, direct[] = { P("10.244.1.7/32") };
	struct nft_masq m = { pods, 2, nodes, 1, true, keep, 5, direct, 1 };
	char err[200] = "", *cmd = nft_masq_format(&m, err, sizeof(err));

	CHECK(cmd && !strcmp(cmd, want));
	if (cmd && strcmp(cmd, want))
		fprintf(stderr, "%s", cmd);
	free(cmd);
}

TEST(nft_masq_format_one_family_no_exclusions)
{
	struct ipam_prefix pods[] = { P("fd00:244:1::/64") };
	char err[200] = "", *cmd = format2(pods, 1, NULL, 0, err, sizeof(err));

	/* No IPv4 at all; an empty keep6 (no "add element"): all of it goes. */
	CHECK(cmd && !strstr(cmd, "pods4") && !strstr(cmd, " ip daddr") && !strstr(cmd, "add element inet weft keep6"));
	CHECK(cmd && strstr(cmd, "add set inet weft keep6 {"));
	CHECK(cmd && strstr(cmd, "ip6 saddr @pods6 ip6 saddr != @direct6 ip6 daddr != @keep6 masquerade\n"));
	free(cmd);
}

TEST(nft_masq_format_only_to_nodes)
{
	struct ipam_prefix pods[] = { P("10.244.1.0/24") }, keep[] = { P("10.244.0.0/16") };
	struct ipam_prefix nodes[] = { P("192.168.1.12/32"), P("fd01::12/128") };
	struct nft_masq m = { .pods = pods, .npods = 1, .nodes = nodes, .nnodes = 2, .keep = keep, .nkeep = 1 };
	char err[200] = "", *cmd = nft_masq_format(&m, err, sizeof(err));

	/* ipMasq off: only the rule to the nodes, no keep or direct set, and
	 * the IPv6 node unused without an IPv6 pod subnet. */
	CHECK(cmd && strstr(cmd, "ip saddr @pods4 ip daddr @nodes4 masquerade\n") && !strstr(cmd, "keep") &&
	      !strstr(cmd, "direct") && !strstr(cmd, "fd01::12"));
	free(cmd);
}

TEST(nft_masq_format_refuses)
{
	struct ipam_prefix good = P("10.244.1.0/24"), host = P("10.244.1.5/24"), host6 = P("fd00::1/64");
	struct ipam_prefix badlen = good, badfam = good;
	char err[200] = "";

	badlen.len = 33;
	badfam.family = AF_UNIX;
	errno = 0;
	CHECK(!format2(&host, 1, NULL, 0, err, sizeof(err)) && errno == EINVAL);
	CHECK(strstr(err, "pod subnet 0 (10.244.1.5/24): not an IPv4 or IPv6 network"));
	CHECK(!format2(&good, 1, &host6, 1, err, sizeof(err)) && errno == EINVAL);
	CHECK(strstr(err, "excluded CIDR 0 (fd00::1/64)"));
	CHECK(!format2(&badlen, 1, NULL, 0, err, sizeof(err)) && errno == EINVAL);
	CHECK(strstr(err, "pod subnet 0 (10.244.1.0/33)"));
	CHECK(!format2(&good, 1, &badfam, 1, err, sizeof(err)) && errno == EINVAL);
	CHECK(strstr(err, "excluded CIDR 0 (family 1)"));
	CHECK(!format2(NULL, 0, &good, 1, err, sizeof(err)) && errno == EINVAL);
	CHECK(strstr(err, "no pod subnet"));
	/* 0.0.0.0/0 and ::/0 are networks: excluding everything is allowed. */
	good = P("0.0.0.0/0");
	{
		char *cmd = format2(&good, 1, &good, 1, err, sizeof(err));

		CHECK(cmd && strstr(cmd, "{ 0.0.0.0/0 }"));
		free(cmd);
	}
}

/* In the child, in its own namespace: the step that failed, or 0. */
static int applied_in_namespace(void)
{
	struct ipam_prefix pods[] = { P("10.244.1.0/24"), P("fd00:244:1::/64") };
	struct ipam_prefix keep[] = { P("10.244.0.0/24"), P("10.244.1.0/24"), P("fd00:244::/64") };
	struct nft_masq m3 = { .pods = pods, .npods = 2, .keep = keep, .nkeep = 3, .everywhere = true }, m2 = m3;
	char err[400], *out = NULL;
	int step = 0;

	if (unshare(CLONE_NEWNET))
		return 100;
	++step;
	/* Twice: the second replaces the first, and so would a restart. */
	m2.nkeep = 2;
	if (nft_masq_apply(&m3, err, sizeof(err)) || nft_masq_apply(&m2, err, sizeof(err)))
		goto fail;
	++step;
	if (nft_run("list table inet weft", &out, err, sizeof(err)))
		goto fail;
	++step;
	if (!strstr(out, "ip saddr @pods4 ip saddr != @direct4 ip daddr != @keep4 masquerade") ||
	    !strstr(out, "ip6 saddr @pods6 ip6 saddr != @direct6 ip6 daddr != @keep6 masquerade") ||
	    !strstr(out, "ip saddr @pods4 ip daddr @nodes4 masquerade") || !strstr(out, "10.244.0.0/23") ||
	    strstr(out, "fd00:244::/64") || !strstr(out, "type nat hook postrouting priority srcnat")) {
		snprintf(err, sizeof(err), "unexpected table:\n%s", out);
		goto fail;
	}
	++step;
	if (nft_masq_remove(err, sizeof(err)) || nft_masq_remove(err, sizeof(err)))
		goto fail;
	++step;
	free(out);
	out = NULL;
	/* Gone: listing it is an error, which names the table. */
	if (!nft_run("list table inet weft", &out, err, sizeof(err)) || !strstr(err, "Error")) {
		snprintf(err, sizeof(err), "the table is still there");
		goto fail;
	}
	free(out);
	return 0;
fail:
	fprintf(stderr, "  step %d: %s\n", step, err);
	free(out);
	return step;
}

TEST(nft_masq_applied_in_a_namespace)
{
	int status = -1;
	pid_t pid;

	if (geteuid() != 0) {
		test_skip("needs root, CAP_NET_ADMIN");
		return;
	}
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(applied_in_namespace());
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
		test_skip("no network namespace of its own (unshare)");
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
