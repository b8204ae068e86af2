// SPDX-License-Identifier: MIT
/*
 * {"op": "show"}: what `weft status` and `weft pods` print. The node and
 * the manager (in a cluster), the hub device and each of its peers, named
 * (another node, or one of our pods), and the pods. No private key.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/addr.h"
#include "util/key.h"
#include "weftd.h"

/* One peer, named from nodes and pods (public key -> name). */
static json_t *peer_json(const struct wg_config_peer *p, json_t *nodes, json_t *pods)
{
	char b64[KEY_B64_LEN], buf[ADDR_STRLEN], who[300];
	json_t *o, *ips = json_array(), *node;
	const char *pod;

	key_to_base64(b64, p->public_key);
	for (const struct wg_config_ip *ip = p->first_ip; ip; ip = ip->next) {
		char a[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN + 5];

		inet_ntop(ip->family, &ip->ip6, a, sizeof(a));
		snprintf(s, sizeof(s), "%s/%u", a, ip->cidr);
		json_array_append_new(ips, json_string(s));
	}
	o = json_pack("{s:s, s:o, s:I, s:I, s:I, s:i}", "publicKey", b64, "allowedIPs", ips, "latestHandshake",
		      (json_int_t)p->last_handshake.tv_sec, "rxBytes", (json_int_t)p->rx_bytes, "txBytes",
		      (json_int_t)p->tx_bytes, "persistentKeepalive", p->persistent_keepalive);
	if (p->endpoint.sa.sa_family)
		json_object_set_new(o, "endpoint", json_string(addr_format_endpoint(buf, &p->endpoint.sa)));
	if ((node = json_object_get(nodes, b64))) {
		json_object_set(o, "node", node);
	} else if ((pod = json_string_value(json_object_get(pods, b64)))) {
		char *at;

		snprintf(who, sizeof(who), "%s", pod);
		at = strrchr(who, '@');

		if (at) {
			*at = '\0';
			json_object_set_new(o, "pod", json_pack("{s:s, s:s}", "containerID", who, "ifname", at + 1));
		}
	}
	return o;
}

static json_t *pods_json(struct weftd *d)
{
	json_t *pods = json_array();
	struct list *pos;

	pthread_mutex_lock(&d->lock);
	list_for_each(pos, &d->attachments) {
		struct attachment *a = list_entry(pos, struct attachment, link);

		json_t *pod = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "containerID", a->id, "ifname", a->ifname,
					"interface", a->iface, "netns", a->netns, "mode", cni_mode_name(a->mode), "network",
					a->network, "owner", cni_owner_json(&a->owner));

		if (pod && a->pod_to_pod)
			json_object_set_new(pod, "podToPod", json_true());
		json_array_append_new(pods, pod);
	}
	pthread_mutex_unlock(&d->lock);
	/* Their addresses, from the node's IPAM (outside the list's lock). */
	if (d->ipam_open) {
		json_t *pod;
		size_t i;

		json_array_foreach(pods, i, pod) {
			struct ipam_lease lease;
			json_t *addrs = json_array();
			char buf[64];

			if (!ipam_find(&d->ipam, json_string_value(json_object_get(pod, "containerID")),
				       json_string_value(json_object_get(pod, "ifname")), &lease))
				for (int f = 0; f < 2; ++f) {
					/* As the pod holds it: a host address. */
					struct ipam_prefix host = lease.addr[f];

					host.len = f ? 128 : 32;
					if (host.family)
						json_array_append_new(addrs,
								      json_string(ipam_prefix_str(&host, buf, sizeof(buf))));
				}
			json_object_set_new(pod, "addresses", addrs);
		}
	}
	return pods;
}

/* A podToPod pod's own peers, as the hub's are shown (the hub among
 * them); with hub_lock held. */
static void pods_peers(struct weftd *d, json_t *pods, json_t *names)
{
	json_t *pod;
	size_t i;

	json_array_foreach(pods, i, pod) {
		struct wg_config *cfg;
		json_t *peers;

		if (!json_is_true(json_object_get(pod, "podToPod")) ||
		    !(cfg = hub_p2p_get(d, json_string_value(json_object_get(pod, "containerID")),
					json_string_value(json_object_get(pod, "ifname")))))
			continue;
		peers = json_array();
		for (struct wg_config_peer *p = cfg->first_peer; p; p = p->next)
			json_array_append_new(peers, peer_json(p, NULL, names));
		json_object_set_new(pod, "peers", peers);
		wg_config_free(cfg);
	}
}

json_t *weftd_show(struct weftd *d)
{
	json_t *out = json_pack("{s:b}", "ok", 1), *peers = json_array(), *pods = pods_json(d);
	struct wgdev_err werr = { "", 0 };
	struct wg_config *cfg = NULL;

	member_describe(d, out);
	gateway_describe(d, out);
	masq_describe(d, out);
	pthread_mutex_lock(&d->hub_lock);
	if (d->hub && (cfg = wgdev_get(d->hub, &werr))) {
		json_t *nodes = member_node_keys(d), *names = hub_pod_names(d);
		char b64[KEY_B64_LEN];

		key_to_base64(b64, cfg->public_key);
		json_object_set_new(out, "device",
				    json_pack("{s:s, s:s, s:i, s:s}", "name", wgdev_name(d->hub), "backend",
					      wgdev_backend_name(wgdev_backend(d->hub)), "listenPort", cfg->listen_port,
					      "publicKey", b64));
		for (struct wg_config_peer *p = cfg->first_peer; p; p = p->next)
			json_array_append_new(peers, peer_json(p, nodes, names));
		pods_peers(d, pods, names);
		json_decref(nodes);
		json_decref(names);
	}
	pthread_mutex_unlock(&d->hub_lock);
	if (cfg)
		crypto_wipe(cfg->private_key, sizeof(cfg->private_key));
	wg_config_free(cfg);
	json_object_set_new(out, "peers", peers);
	json_object_set_new(out, "pods", pods);
	return out;
}
