/* SPDX-License-Identifier: MIT */
/*
 * Prometheus' text exposition format (version 0.0.4): families with HELP
 * and TYPE, then their samples, label values escaped. For weftd's per-peer
 * figures and the gateways' connection metrics (issue 6).
 *
 *   struct buf b = { 0 };
 *   prom_family(&b, "gateway_rx_bytes", "Bytes received by cable", PROM_COUNTER);
 *   prom_sample(&b, "gateway_rx_bytes", (const char *[]){ "remote_cluster", "b", NULL }, 1234);
 */
#ifndef WEFT_METRICS_PROM_H
#define WEFT_METRICS_PROM_H

#include <stdbool.h>

#include "util/buf.h"

enum prom_type { PROM_GAUGE, PROM_COUNTER };

/* A metric or label name as Prometheus allows: [a-zA-Z_:][a-zA-Z0-9_:]*
 * (labels: no ':'; "__" at the start is reserved). */
bool prom_name_valid(const char *name, bool label);

/* "# HELP" and "# TYPE" lines. 0, -EINVAL (bad name), -ENOMEM. */
int prom_family(struct buf *b, const char *name, const char *help, enum prom_type type);
/* One sample; labels: name, value, name, value, ..., NULL (or NULL for
 * none). Values may hold anything: \\, " and newlines are escaped. */
int prom_sample(struct buf *b, const char *name, const char *const *labels, double value);

#endif
