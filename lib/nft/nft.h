/* SPDX-License-Identifier: MIT */
/*
 * nftables through libnftables (docs/dependencies.md): a command in nft's
 * own syntax, run as one transaction, its output and its errors caught in
 * buffers rather than printed. Callers format only text they have checked
 * (masq.h builds its command from parsed prefixes): nothing a user typed
 * is ever pasted into a command.
 */
#ifndef WEFT_NFT_H
#define WEFT_NFT_H

#include <stddef.h>

/*
 * Runs cmd (one or more commands, ';' or newline separated) as one
 * transaction: all of it applies, or none. out (if not NULL) receives
 * what nft printed, malloc'd, for the caller to free. Returns 0, -ENOMEM,
 * -EIO with err holding the first line of nft's own error ("Error:
 * Could not process rule: Operation not permitted"), or the errno of a
 * kernel without nftables (checked first: libnftables would exit).
 */
int nft_run(const char *cmd, char **out, char *err, size_t errlen);

#endif
