// SPDX-License-Identifier: MIT
#include "nft/nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nft_run(const char *cmd, char **out, char *err, size_t errlen)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	const char *msg;
	int ret = 0;

	if (out)
		*out = NULL;
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
