/* SPDX-License-Identifier: MIT */
/* weftd, the node agent: its state and its parts. */
#ifndef WEFTD_H
#define WEFTD_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/config.h"
#include "agent/lease.h"
#include "agent/reconcile.h"
#include "api/follow.h"

#include "cluster/node.h"
#include "cni/args.h"
#include "cni/cni.h"
#include "dev/wgdev.h"
#include "ipam/ipam.h"
#include "util/list.h"

struct attachment {
	struct list link;
	/* CNI's key for it: (container ID, CNI_IFNAME). */
	char id[256];
	char ifname[16];
	/* The interface weft made in the container: ifname, or in a chain
	 * the name weft-cni chose, since CNI_IFNAME is the chain's first. */
	char iface[16];
	char netns[512];
	struct cni_owner owner; /* the pod or allocation, from CNI_ARGS */
	/* Its network's conflist says "ipMasq": false: its traffic keeps
	 * its pod address beyond the cluster (masq.c). */
	bool no_masq;
	/* Made for Docker (docker.c): its addresses are Docker's IPAM calls'
	 * to give back, and it lives until Docker deletes the endpoint. */
	bool docker;
	/* Being made for Docker: its interface in the node's namespace under
	 * a temporary name, which Docker moves into the container (netns may
	 * not exist yet) and addresses itself. Not saved. */
	bool handoff;
	int64_t since; /* when it was made, wall-clock seconds */
	/* The namespace it was made in (0: not known), to tell a namespace
	 * made afresh at the same path. */
	ino_t ns_ino;
	dev_t ns_dev;
	enum cni_mode mode;
	bool pod_to_pod; /* hub: peers directly with the hub's other such pods */
	char network[128]; /* the CNI network's name: GC is per network */
	struct wgdev *dev; /* a userspace device we host, or NULL */
	/* An operation is under way on it (outside the lock): others on the
	 * same attachment wait for it, others on other attachments do not. */
	bool busy;
};

struct MHD_Daemon;

/* A hub pod that peers directly with the other podToPod pods: the peer
 * they have for it (key, 127.0.0.1:its port, its host addresses), and
 * where its own device is. */
struct hub_p2p {
	struct peer_rec rec; /* named CONTAINER@IFNAME, as on the hub */
	char iface[16];
	char netns[512];
	/* A userspace device we host (the attachment's), or NULL: a kernel
	 * interface, opened by iface in netns when it must change. */
	struct wgdev *dev;
};

/* The node as a member of its cluster (member.c). */
struct weftd_member {
	bool enabled, registered, running, follow_ready;
	bool gateway; /* a gateway candidate: labelled so */
	struct follow follow; /* the manager, followed by `thread` */
	char urls[600], token_file[400], name[64], endpoint[64];
	struct api_client *api;
	pthread_t thread;
	/* Under lock: for "show". */
	pthread_mutex_t lock;
	/* Our record at the manager, checked once where it came in (the
	 * registration's answer, STATE/cluster/node.json, a change list, a
	 * PATCH's answer); written only by the member thread (or at start). */
	struct cluster_node self;
	bool has_self;
	/* The record of the node that is the cluster's gateway (its
	 * "gateway" says so), checked once as it came in a change list. */
	struct cluster_node gateway_seen;
	bool has_gateway_seen;
	int64_t rev;  /* the manager's revision our peers reflect */
	/* The cluster's CIDRs (IPv4, IPv6), as full lists give them: pods'
	 * traffic to them keeps its address (masq.c). */
	struct ipam_prefix cidrs[2];
	size_t ncidrs;
	bool connected;
	int64_t last_contact;
	char error[700];
	bool rotate; /* our record asks for a new credential, not fetched yet; the member thread's */
	/* The other nodes as the hub has them. Under the hub's lock; written
	 * only by the member thread. */
	struct peer_set nodes;
	struct peer_set saved; /* read from peers.json at start, until applied */
	bool has_saved;
	struct kickoff *pending; /* keepalives to start later; under the hub's lock */
	size_t npending;
	pthread_cond_t timer; /* with the hub's lock: pending changed */
	pthread_t timer_thread;
	bool timer_running;
};

/* The node as its cluster's gateway to other clusters (gateway.c). */
struct weftd_gateway {
	bool enabled, running, follow_running;
	atomic_bool stop;
	char device[16];
	uint16_t port;
	char endpoint[96]; /* ADDR:PORT published at the broker */
	/* weft-wg next to this program: it hosts a userspace device, which
	 * then outlives us and is adopted at restart. "": in this process. */
	char host[4096];
	pthread_t thread, follow_thread;
	struct api_client *mgr; /* the lease loop's own client */
	json_t *fed;		/* the federation the broker thread follows */
	struct api_client *broker; /* the broker thread's client */
	struct follow follow;	   /* the broker, followed by follow_thread */
	char cluster_id[64];	   /* ours, at the broker */
	/* Under lock. */
	pthread_mutex_t lock;
	enum lease_state state; /* written by the lease thread */
	bool active, joined, broker_connected;
	int64_t since;
	char cluster[64];
	struct wgdev *dev;
	struct peer_set peers; /* one per cluster, labels kept in extra */
	json_t *health;	       /* cluster ID -> its connection's state */
	struct kickoff *pending; /* keepalives to start later */
	size_t npending;
	char error[800];
};

/* Pods' egress, masqueraded (masq.c). */
struct weftd_masq {
	bool enabled;
	/* masq_start has run: the member, broker and gateway are set up, so
	 * their threads' changes may update the table. */
	atomic_bool started;
	/* The table's changes, and what "show" reads. Taken before hub_lock,
	 * cl.lock or gw.lock (masq_update reads the subnets under it). */
	pthread_mutex_t lock;
	bool applied; /* the table holds what these say (none: no table) */
	struct ipam_prefix *keep; /* excluded, sorted, as last applied */
	struct ipam_prefix *nodes; /* other nodes' addresses, always masqueraded */
	struct ipam_prefix *direct; /* pods with "ipMasq": false */
	size_t nkeep, nnodes, ndirect;
	char error[600];
};

struct weftd {
	char state_dir[400];
	char socket_path[108];
	char pod_subnet[64], pod_subnet6[64];
	enum wgdev_backend backend;
	enum wg_log_level log_level;
	struct ipam ipam;
	bool ipam_open;
	/* The node's hub device (mode "hub"), made on first use. */
	char hub_name[16];
	uint16_t hub_port;
	struct wgdev *hub;
	pthread_mutex_t hub_lock; /* the hub's handle: its creation, its peers */
	struct peer_set hub_pods; /* the hub's peers that are pods (hub.c) */
	/* The hub's pods with "podToPod", which are each other's peers as
	 * well as the hub's (hub.c). Under hub_lock. */
	struct hub_p2p *p2p;
	size_t np2p;
	int hub_localnet; /* the hub's route_localnet as last noted; under hub_lock */
	/* Guards the list of attachments and their busy flags. Slow work
	 * (interfaces, routes, keys) runs outside it, on an attachment marked
	 * busy, so requests for different containers run side by side and
	 * requests for the same one run one after another. */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* an attachment stopped being busy, or went */
	bool stopping;
	struct list attachments;
	struct weftd_member cl;
	struct weftd_gateway gw;
	struct weftd_masq masq;
	struct MHD_Daemon *metrics; /* metrics.c, or NULL */
	struct MHD_Daemon *docker;  /* docker.c, or NULL */
	char docker_socket[108];
};

/* One line, timestamped: "LEVEL: (weftd) YYYY/MM/DD HH:MM:SS message", the
 * levels up to d->log_level (info unless --log-level says otherwise). */
void weftd_log(struct weftd *d, enum wg_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *weftd_level_name(enum wg_log_level level);
/* A device's log line (struct wgdev_opts.log, which has filtered it by
 * level already), in the same format, "(who)" naming the device. */
void weftd_log_device(enum wg_log_level level, const char *who, const char *msg);

/* attach.c: each returns 0 or a CNI error code with err filled, and takes
 * d->lock itself. */
int attach_add(struct weftd *d, json_t *req, json_t **result, struct cni_error *err);
/* A container's device's log (wgdev_opts.log, ctx the attachment), as
 * "(CONTAINER/IFNAME)". */
void attach_log(void *ctx, enum wg_log_level level, const char *msg);
int attach_del(struct weftd *d, json_t *req, struct cni_error *err);
int attach_check(struct weftd *d, json_t *req, struct cni_error *err);
int attach_gc(struct weftd *d, json_t *req, struct cni_error *err);
/* DEL by key; succeeds when there is nothing to remove. */
int attach_remove(struct weftd *d, const char *id, const char *ifname, struct cni_error *err);
/* Docker's Join (docker.c): endpoint id of a weft network, mode "mesh" or
 * "hub", its interface made in the node's namespace as src for Docker to
 * move into the container at netns. Keyed (id, ATTACH_DOCKER_IFNAME), as
 * its addresses are in the IPAM. */
#define ATTACH_DOCKER_IFNAME "docker"
int attach_docker(struct weftd *d, const char *id, const char *netns, const char *network, enum cni_mode mode,
		  unsigned mtu, const char *src, struct cni_error *err);
/* Rebuilds what the state directory describes (after a restart). */
void attach_restore(struct weftd *d);
/* Drops attachments whose container is gone. */
void attach_sweep(struct weftd *d);
/* At exit: refuses new work, waits for what is under way, frees all. */
void attach_free_all(struct weftd *d);

/* The node routes between its pods (and, later, other nodes). */
void weftd_enable_forwarding(void);

/* mesh.c: mode "mesh", a veth pair and host routes. */
int mesh_up(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err);
void mesh_down(struct weftd *d, struct attachment *a);

/* member.c: the node as a member of a cluster (no-ops without a manager). */
/* Registers (or reads what the last run registered): sets the pod subnets. */
int member_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen);
/* With the IPAM open: the hub with the nodes known, and the thread that
 * follows the manager. */
int member_run(struct weftd *d, char *err, size_t errlen);
void member_stop(struct weftd *d);
/* Adds "node" and "manager" to a "show" reply. */
void member_describe(struct weftd *d, json_t *out);
/* The other nodes' public keys (base64) -> names; with hub_lock held. */
json_t *member_node_keys(struct weftd *d);

/* join.c: the node's standing with its manager (files, registration, our
 * record, our credential), for member.c. */
void member_path(struct weftd *d, char *buf, size_t len, const char *name);
int member_save(struct weftd *d, const char *name, const char *text);
int member_save_json(struct weftd *d, const char *name, json_t *v);
/* Our record, from the JSON that came in from `from` (for the log): 0, or
 * -EINVAL/-ENOMEM logged at warning naming the bad field (n then holds
 * nothing). */
int member_parse_self(struct weftd *d, json_t *doc, const char *from, struct cluster_node *n);
/* Makes n our record, taking its contents (n is cleared). */
void member_set_self(struct weftd *d, struct cluster_node *n);
/* Parses doc as our record and, if it says something new, makes it ours
 * and saves it to STATE/cluster/node.json. A record that fails its check
 * changes nothing (the old one stays): -EINVAL or -ENOMEM, logged. */
int member_take_self(struct weftd *d, json_t *doc, const char *from);
/* Whether the manager answered, for "show". */
void member_note(struct weftd *d, bool ok, const char *err);
enum join_result { JOINED, RETRY, FATAL };
/* Registers with the join token (a first start, or coming back after
 * removal, asking for the old subnets). */
enum join_result member_join(struct weftd *d);
/* Tells the manager our key and endpoint if its record differs: the HTTP
 * status (200 when nothing needed telling). */
int member_update_self(struct weftd *d);
/* Fetches and saves a new credential (an admin asked); tried again at the
 * next answer when it fails. */
void member_rotate_credential(struct weftd *d);

/* peers.c: shared by member.c, cable.c and hub.c. */
/* A small secret file's first line (a credential, a token), or NULL. */
char *weftd_read_secret(const char *path);
/* A route for prefix into a WireGuard device. */
int weftd_route(struct wgdev *dev, const char *prefix, bool add);
/* A reconcile plan carried out on dev and its routes: 0, or -EIO when the
 * device refused the peers (nothing else is then done; werr, if given,
 * says why). who: "member", "gateway", "hub", for the log. */
int weftd_plan_apply(struct weftd *d, struct wgdev *dev, const struct plan *p, const char *who,
		     struct wgdev_err *werr);
/* The keys of dev's peers (*out freed by the caller). */
int weftd_device_keys(struct wgdev *dev, uint8_t (**out)[32], size_t *n);
/* Its events, at `level`: noun is "node", "cluster" or "pod". */
void weftd_plan_log(struct weftd *d, const struct plan *p, const struct peer_set *want, const char *who,
		    const char *noun, enum wg_log_level level);

/* gateway.c: the gateway lease, device and connections (no-ops unless
 * --gateway). */
int gateway_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen);
void gateway_stop(struct weftd *d);
/* Adds "gateway" to a "show" reply. */
void gateway_describe(struct weftd *d, json_t *out);
/* Its error, for "show" (logged when it changes); _locked takes d->gw.lock. */
void gateway_error(struct weftd *d, const char *msg);
void gateway_error_locked(struct weftd *d, const char *msg);

/* cable.c: the gateway's device and its peers, the other clusters. All
 * with d->gw.lock held, except cable_follow and cable_unfollow. */
/* The device up, adopted if it is there: 0, or an error (in d->gw.error). */
int cable_up(struct weftd *d);
/* The device down, with its routes. */
void cable_down(struct weftd *d);
/* The keepalives whose time has come. */
void cable_kickoffs(struct weftd *d);
/* Each connection's health from the device; and as reported. */
void cable_assess(struct weftd *d);
json_t *cable_connections(struct weftd *d);
/* The broker of fed {clusterID, broker, ca, credential}, followed by a
 * thread of its own; and no more. */
void cable_follow(struct weftd *d, json_t *fed);
void cable_unfollow(struct weftd *d);

/* metrics.c: GET /metrics on listen_on ("" for none). */
struct MHD_Daemon;
int metrics_start(struct weftd *d, const char *listen_on, char *err, size_t errlen);
void metrics_stop(struct weftd *d);

/* docker.c: Docker's network and IPAM driver (no-op unless --docker-plugin). */
int docker_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen);
void docker_stop(struct weftd *d);

/* masq.c: pods' egress masqueraded to the node's address, except to the
 * subnets weftd knows (lib/nft/masq.h). */
/* Once the IPAM is open and the member and gateway have started: the
 * table made (d->masq.enabled, set before any thread starts) or removed. */
void masq_start(struct weftd *d);
/* The table brought to what weftd now knows (a change of nodes or of
 * other clusters); a no-op when nothing it excludes changed. Takes
 * hub_lock, cl.lock and gw.lock in turn: call it with none held. */
void masq_update(struct weftd *d);
/* Adds "masquerade" to a "show" reply. */
void masq_describe(struct weftd *d, json_t *out);
/* Forgets the lists; removes the table if no pod is left (call before
 * attach_free_all). */
void masq_stop(struct weftd *d);

/* show.c: {"op": "show"} */
json_t *weftd_show(struct weftd *d);

/* hub.c */
/* The node's private key NAME (STATE/keys/NAME.key, 0600), made on first
 * use if create; and its public key. */
int weftd_key(struct weftd *d, const char *name, uint8_t key[32], bool create);
void weftd_key_public(struct weftd *d, const char *name, uint8_t pub[32]);
/* Makes (or adopts) the hub now rather than at the first pod. */
int hub_start(struct weftd *d, struct cni_error *err);
void hub_public_key(struct weftd *d, uint8_t pub[32]);
/* The hub's pods' public keys (base64) -> "ID@IFNAME", from d->hub_pods;
 * with hub_lock held. */
json_t *hub_pod_names(struct weftd *d);
int hub_attach(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err);
void hub_detach(struct weftd *d, struct attachment *a);
/* The hub still has the container as a peer; and a podToPod pod every
 * other podToPod pod. */
int hub_check(struct weftd *d, struct attachment *a, struct cni_error *err);
/* The device of podToPod pod CONTAINER@IFNAME as read back (its peers,
 * no private key), or NULL if it is none; for "show", with hub_lock held. */
struct wg_config *hub_p2p_get(struct weftd *d, const char *id, const char *ifname);
/* At exit: the podToPod pods forgotten, their devices left to their
 * attachments. */
void hub_p2p_free(struct weftd *d);
/* Notes the hub's route_localnet, for a hub made anew to have it again
 * (hub.c says why); at each sweep and before the hub closes. */
void hub_note(struct weftd *d);

#endif
