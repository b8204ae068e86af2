// SPDX-License-Identifier: MIT
#include "nft/nft.h"

#include <errno.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Whether this namespace's kernel takes a netfilter netlink socket. If it
 * does not (nfnetlink neither built in nor loadable), libnftables 1.0.6
 * does not return an error: it prints "Unable to initialize Netlink
 * socket" and calls exit(), taking weftd with it. Seen under QEMU, whose
 * kernel had no nfnetlink loaded and no modprobe to load it.
 */
static int netfilter_available(char *err, size_t errlen)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "nftables is not available here: the kernel refused a netfilter netlink socket "
			 "(%s); load nf_tables (modprobe nf_tables)", strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

int nft_run(const char *cmd, char **out, char *err, size_t errlen)
{
	struct nft_ctx *ctx = NULL;
	const char *msg;
	int ret;

	if (out)
		*out = NULL;
	if ((ret = netfilter_available(err, errlen)))
		return ret;
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx || nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (nft_run_cmd_from_buffer(ctx, cmd)) {
		/* nft's message runs over several lines (the command, a caret
		 * under the bad part); the first says what failed. */
		msg = nft_ctx_get_error_buffer(ctx);
		msg = msg ? msg + strspn(msg, "\n") : "";
		snprintf(err, errlen, "%.*s", (int)strcspn(msg, "\n"), *msg ? msg : "nft failed, saying nothing");
		ret = -EIO;
		goto out;
	}
	if (out && !(*out = strdup(nft_ctx_get_output_buffer(ctx) ?: ""))) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
	}
out:
	nft_ctx_free(ctx);
	return ret;
}
