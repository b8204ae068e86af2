/* SPDX-License-Identifier: MIT */
/* Files written whole or not at all. */
#ifndef WEFT_FILE_H
#define WEFT_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with len bytes of data, mode `mode`: written to PATH.tmp,
 * synced, renamed into place, so a crash leaves the old file or the new
 * one, never a part. One writer per path at a time. 0 or a negative
 * errno; on failure nothing is left behind. */
int file_replace(const char *path, const void *data, size_t len, mode_t mode);

#endif
