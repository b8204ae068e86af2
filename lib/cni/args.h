/* SPDX-License-Identifier: MIT */
/*
 * CNI_ARGS: "KEY=VALUE;KEY=VALUE", as libcni writes it from a runtime's
 * arguments. What it says about the container's owner (a Kubernetes pod, a
 * Nomad allocation, a podman container by name) is kept with the
 * attachment, so an operator can tell whose interface a record is.
 */
#ifndef WEFT_CNI_ARGS_H
#define WEFT_CNI_ARGS_H

#include <jansson.h>
#include <stdbool.h>

#include "cni.h"

struct cni_owner {
	/* Kubernetes (containerd, CRI-O); podman sets only the name, to the
	 * container's. */
	char pod_namespace[64];
	char pod_name[254];
	char pod_uid[64];
	char pod_infra_id[256];
	/* Nomad. */
	char nomad_region[128];
	char nomad_namespace[128];
	char nomad_job[128];
	char nomad_group[128];
	char nomad_alloc[64];
};

/*
 * Parses CNI_ARGS as the reference plugins do: pairs split at ';', each at
 * its first '='. A pair without '=' is refused; so is a key weft does not
 * know, unless IgnoreUnknown is "1" or "true" (any case), which every
 * runtime sends. Values must be printable and fit their field. Errors have
 * code 4 (environment) and name the pair.
 */
int cni_args_parse(const char *text, struct cni_owner *out, struct cni_error *err);
/* True when nothing is known of the owner. */
bool cni_owner_empty(const struct cni_owner *o);
/* {"podNamespace": ..., "nomadAllocID": ...} with the fields set; and
 * back, from a request or a record (unknown keys ignored, bad values
 * dropped). */
json_t *cni_owner_json(const struct cni_owner *o);
void cni_owner_from_json(json_t *j, struct cni_owner *out);
/* One short line for tables: "NAMESPACE/NAME", "NAME", or
 * "JOB.GROUP alloc ALLOC8". "" when nothing is known. */
const char *cni_owner_str(const struct cni_owner *o, char *buf, size_t len);

#endif
