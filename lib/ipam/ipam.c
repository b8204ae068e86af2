// SPDX-License-Identifier: MIT
#include "ipam.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/addr.h"

/* How far to search a pool for a free address before calling it full. */
enum { SCAN_MAX = 1 << 16 };

const char *ipam_prefix_str(const struct ipam_prefix *p, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(p->family, &p->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, p->len);
	return buf;
}

int ipam_prefix_parse(struct ipam_prefix *p, const char *s)
{
	memset(p, 0, sizeof(*p));
	return addr_parse_prefix(s, &p->family, &p->addr, &p->len);
}

/* Address arithmetic on the low 64 bits, which is all a pool we scan uses. */
static void add_offset(struct ipam_prefix *out, const struct ipam_prefix *base, uint64_t off)
{
	*out = *base;
	if (base->family == AF_INET) {
		out->addr.v4.s_addr = htonl(ntohl(base->addr.v4.s_addr) + (uint32_t)off);
	} else {
		uint64_t low = 0;

		for (int i = 8; i < 16; ++i)
			low = low << 8 | base->addr.v6.s6_addr[i];
		low += off;
		for (int i = 15; i >= 8; --i, low >>= 8)
			out->addr.v6.s6_addr[i] = (uint8_t)low;
	}
}

static uint64_t pool_size(const struct ipam_prefix *p)
{
	unsigned host_bits = (p->family == AF_INET ? 32u : 128u) - p->len;

	return host_bits >= 63 ? (1ULL << 62) : 1ULL << host_bits;
}

static void mask_prefix(struct ipam_prefix *p)
{
	unsigned bytes = p->family == AF_INET ? 4 : 16;
	uint8_t *b = (uint8_t *)&p->addr;

	for (unsigned i = 0; i < bytes; ++i) {
		unsigned keep = p->len > 8 * i ? p->len - 8 * i : 0;

		if (keep < 8)
			b[i] &= (uint8_t)(0xff << (8 - keep)) & 0xff;
	}
}

static bool safe_name(const char *s)
{
	if (!s || !*s || strlen(s) > 256 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; ++s)
		if (*s == '/' || *s == '\n' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

int ipam_open(struct ipam *ipam, const char *dir, const char *v4_pool, const char *v6_pool, char *err,
	      size_t errlen)
{
	char path[600];
	const char *pools[2] = { v4_pool, v6_pool };

	memset(ipam, 0, sizeof(*ipam));
	ipam->lock_fd = -1;
	if (snprintf(ipam->dir, sizeof(ipam->dir), "%s", dir) >= (int)sizeof(ipam->dir)) {
		snprintf(err, errlen, "state directory path too long: %s", dir);
		return -ENAMETOOLONG;
	}
	for (int f = 0; f < 2; ++f) {
		struct ipam_prefix *p = &ipam->pool[f];
		unsigned max = f ? 126 : 30;

		if (!pools[f] || !*pools[f])
			continue;
		if (ipam_prefix_parse(p, pools[f]) || p->family != (f ? AF_INET6 : AF_INET) || p->len > max) {
			snprintf(err, errlen, "pod subnet \"%s\" is not an %s prefix of length at most %u", pools[f],
				 f ? "IPv6" : "IPv4", max);
			return -EINVAL;
		}
		mask_prefix(p);
	}
	if (!ipam->pool[0].family && !ipam->pool[1].family) {
		snprintf(err, errlen, "no pod subnet: give at least one (IPv4 or IPv6)");
		return -EINVAL;
	}
	for (int f = 0; f < 2; ++f) {
		snprintf(path, sizeof(path), "%s/%d", dir, f ? 6 : 4);
		if ((mkdir(dir, 0700) && errno != EEXIST) || (mkdir(path, 0700) && errno != EEXIST)) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			return -errno;
		}
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	ipam->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ipam->lock_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	pthread_mutex_init(&ipam->lock, NULL);
	return 0;
}

void ipam_close(struct ipam *ipam)
{
	if (ipam->lock_fd >= 0) {
		close(ipam->lock_fd);
		pthread_mutex_destroy(&ipam->lock);
	}
	ipam->lock_fd = -1;
}

static void lock(struct ipam *ipam)
{
	pthread_mutex_lock(&ipam->lock);
	while (flock(ipam->lock_fd, LOCK_EX) && errno == EINTR) {
	}
}

static void unlock(struct ipam *ipam)
{
	flock(ipam->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&ipam->lock);
}

static void lease_gateway(struct ipam *ipam, struct ipam_lease *out, int f)
{
	add_offset(&out->gateway[f], &ipam->pool[f], 1);
}

/* Reads an allocation file: "ID\nIFNAME\n". */
static bool read_owner(const char *path, char *id, size_t idlen, char *ifname, size_t iflen)
{
	char buf[600];
	FILE *fp = fopen(path, "re");
	bool ok;

	if (!fp)
		return false;
	ok = fgets(buf, sizeof(buf), fp) != NULL;
	if (ok) {
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(id, idlen, "%s", buf);
		ok = fgets(buf, sizeof(buf), fp) != NULL;
	}
	if (ok) {
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(ifname, iflen, "%s", buf);
	}
	fclose(fp);
	return ok;
}

typedef int (*scan_fn)(struct ipam *ipam, int f, const char *name, const char *id, const char *ifname, void *ctx);

/* Every allocation file of family f. */
static int scan(struct ipam *ipam, int f, scan_fn fn, void *ctx)
{
	char path[800], id[600], ifname[600];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%d", ipam->dir, f ? 6 : 4);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "last") || strchr(de->d_name, '~'))
			continue;
		snprintf(path, sizeof(path), "%s/%d/%s", ipam->dir, f ? 6 : 4, de->d_name);
		if (read_owner(path, id, sizeof(id), ifname, sizeof(ifname)))
			ret = fn(ipam, f, de->d_name, id, ifname, ctx);
	}
	closedir(d);
	return ret;
}

struct find_ctx {
	const char *id, *ifname;
	struct ipam_lease *out;
	bool found[2];
};

static int find_cb(struct ipam *ipam, int f, const char *name, const char *id, const char *ifname, void *ctx)
{
	struct find_ctx *c = ctx;

	if (strcmp(id, c->id) || strcmp(ifname, c->ifname))
		return 0;
	c->out->addr[f].family = f ? AF_INET6 : AF_INET;
	c->out->addr[f].len = ipam->pool[f].len;
	if (inet_pton(c->out->addr[f].family, name, &c->out->addr[f].addr) != 1)
		return 0;
	lease_gateway(ipam, c->out, f);
	c->found[f] = true;
	return 1;
}

static bool find_locked(struct ipam *ipam, const char *id, const char *ifname, struct ipam_lease *out)
{
	struct find_ctx c = { id, ifname, out, { false, false } };

	memset(out, 0, sizeof(*out));
	for (int f = 0; f < 2; ++f)
		if (ipam->pool[f].family)
			scan(ipam, f, find_cb, &c);
	return c.found[0] || c.found[1];
}

int ipam_find(struct ipam *ipam, const char *id, const char *ifname, struct ipam_lease *out)
{
	bool found;

	if (!safe_name(id) || !safe_name(ifname))
		return -EINVAL;
	lock(ipam);
	found = find_locked(ipam, id, ifname, out);
	unlock(ipam);
	return found ? 0 : -ENOENT;
}

/* The offsets of a pool that may be handed out: [*first, *first + *span),
 * after the network address and the gateway (.1); IPv4 also keeps its
 * broadcast address. */
static bool usable(const struct ipam_prefix *pool, uint64_t *first, uint64_t *span)
{
	uint64_t size = pool_size(pool);

	*first = 2;
	if (size < 4)
		return false;
	*span = size - *first - (pool->family == AF_INET ? 1 : 0);
	return true;
}

static uint64_t low64(const struct ipam_prefix *p)
{
	uint64_t low = 0;

	if (p->family == AF_INET)
		return ntohl(p->addr.v4.s_addr);
	for (int i = 8; i < 16; ++i)
		low = low << 8 | p->addr.v6.s6_addr[i];
	return low;
}

/* a's offset in pool, or -EINVAL when a is not inside it. */
static int offset_in(const struct ipam_prefix *pool, const struct ipam_prefix *a, uint64_t *off)
{
	struct ipam_prefix net = *a;

	if (a->family != pool->family)
		return -EINVAL;
	net.len = pool->len;
	mask_prefix(&net);
	if (memcmp(&net.addr, &pool->addr, pool->family == AF_INET ? 4 : 16))
		return -EINVAL;
	*off = low64(a) - low64(pool);
	return 0;
}

/*
 * Claims an address of pool f at an offset in [lo, lo + n): the first free
 * one after the last handed out, so that an address just released is not
 * reused at once. Files are linked into place, so a name exists only with
 * its owner written.
 */
static int claim(struct ipam *ipam, int f, const char *id, const char *ifname, uint64_t lo, uint64_t n,
		 struct ipam_prefix *out)
{
	const struct ipam_prefix *pool = &ipam->pool[f];
	uint64_t last_off = 0;
	char dirpath[600], tmp[700], path[700], lastpath[700], ip[INET6_ADDRSTRLEN];
	FILE *fp;
	int fd, ret = -ENOSPC;

	if (!n)
		return -ENOSPC;
	snprintf(dirpath, sizeof(dirpath), "%s/%d", ipam->dir, f ? 6 : 4);
	snprintf(lastpath, sizeof(lastpath), "%s/last", dirpath);
	if (n > 1 && (fp = fopen(lastpath, "re"))) {
		unsigned long long v;

		if (fscanf(fp, "%llu", &v) == 1 && v >= lo && v < lo + n)
			last_off = v - lo + 1;
		fclose(fp);
	}
	snprintf(tmp, sizeof(tmp), "%s/.new~%d", dirpath, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%s\n%s\n", id, ifname) < 0 || fsync(fd)) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	close(fd);
	for (uint64_t i = 0; i < n && i < SCAN_MAX; ++i) {
		uint64_t off = lo + (last_off + i) % n;

		add_offset(out, pool, off);
		inet_ntop(pool->family, &out->addr, ip, sizeof(ip));
		snprintf(path, sizeof(path), "%s/%s", dirpath, ip);
		if (!link(tmp, path)) {
			out->len = pool->len;
			if (n > 1 && (fp = fopen(lastpath, "we"))) {
				fprintf(fp, "%llu\n", (unsigned long long)off);
				fclose(fp);
			}
			ret = 0;
			break;
		}
		if (errno != EEXIST) {
			ret = -errno;
			break;
		}
		ret = n == 1 ? -EADDRINUSE : -ENOSPC;
	}
	unlink(tmp);
	return ret;
}

static void unclaim(struct ipam *ipam, int f, const struct ipam_prefix *addr)
{
	char ip[INET6_ADDRSTRLEN], path[700];

	inet_ntop(addr->family, &addr->addr, ip, sizeof(ip));
	snprintf(path, sizeof(path), "%s/%d/%s", ipam->dir, f ? 6 : 4, ip);
	unlink(path);
}

int ipam_alloc(struct ipam *ipam, const char *id, const char *ifname, struct ipam_lease *out)
{
	int ret = 0;

	if (!safe_name(id) || !safe_name(ifname))
		return -EINVAL;
	lock(ipam);
	/* The same container and interface asking again get what they have. */
	if (find_locked(ipam, id, ifname, out))
		goto out;
	memset(out, 0, sizeof(*out));
	bool claimed[2] = { false, false };

	for (int f = 0; f < 2 && !ret; ++f) {
		uint64_t first, span;

		if (!ipam->pool[f].family)
			continue;
		ret = usable(&ipam->pool[f], &first, &span) ? claim(ipam, f, id, ifname, first, span, &out->addr[f])
							     : -ENOSPC;
		if (!ret)
			lease_gateway(ipam, out, f);
		claimed[f] = !ret;
	}
	/* All families or none; a failed claim leaves only its last candidate
	 * in out, which is someone else's. */
	if (ret) {
		if (claimed[0])
			unclaim(ipam, 0, &out->addr[0]);
		memset(out, 0, sizeof(*out));
	}
out:
	unlock(ipam);
	return ret;
}

struct release_ctx {
	const char *id, *ifname;
};

static int release_cb(struct ipam *ipam, int f, const char *name, const char *id, const char *ifname, void *ctx)
{
	struct release_ctx *c = ctx;
	char path[800];

	if (!strcmp(id, c->id) && !strcmp(ifname, c->ifname)) {
		snprintf(path, sizeof(path), "%s/%d/%s", ipam->dir, f ? 6 : 4, name);
		unlink(path);
	}
	return 0;
}

int ipam_release(struct ipam *ipam, const char *id, const char *ifname)
{
	struct release_ctx c = { id, ifname };

	if (!safe_name(id) || !safe_name(ifname))
		return -EINVAL;
	lock(ipam);
	for (int f = 0; f < 2; ++f)
		if (ipam->pool[f].family)
			scan(ipam, f, release_cb, &c);
	unlock(ipam);
	return 0;
}

struct each_ctx {
	ipam_visit_fn fn;
	void *ctx;
};

static int each_cb(struct ipam *ipam, int f, const char *name, const char *id, const char *ifname, void *ctx)
{
	struct each_ctx *c = ctx;
	struct ipam_lease lease;

	/* Whole allocations: visit each once, from its IPv4 address (or its
	 * IPv6 one when there is no IPv4 pool). */
	if (f == 1 && ipam->pool[0].family)
		return 0;
	if (!find_locked(ipam, id, ifname, &lease))
		return 0;
	return c->fn(c->ctx, id, ifname, &lease);
}

int ipam_each(struct ipam *ipam, ipam_visit_fn fn, void *ctx)
{
	struct each_ctx c = { fn, ctx };
	int ret = 0;

	lock(ipam);
	for (int f = 0; f < 2 && !ret; ++f)
		if (ipam->pool[f].family)
			ret = scan(ipam, f, each_cb, &c);
	unlock(ipam);
	return ret;
}

int ipam_gateway(const struct ipam *ipam, int family, struct ipam_prefix *out)
{
	int f = family == AF_INET6;

	if (!ipam->pool[f].family || ipam->pool[f].family != family)
		return -EAFNOSUPPORT;
	add_offset(out, &ipam->pool[f], 1);
	return 0;
}

int ipam_claim(struct ipam *ipam, int family, const char *id, const char *ifname, const struct ipam_prefix *want,
	       const struct ipam_prefix *within, struct ipam_prefix *out)
{
	int f = family == AF_INET6, ret;
	const struct ipam_prefix *pool = &ipam->pool[f];
	uint64_t lo, n, off;

	if (!safe_name(id) || !safe_name(ifname))
		return -EINVAL;
	if (pool->family != family)
		return -EAFNOSUPPORT;
	if (!usable(pool, &lo, &n))
		return -ENOSPC;
	if (within) {
		uint64_t a, b;

		if (within->len < pool->len || offset_in(pool, within, &off))
			return -EINVAL;
		/* The part of within that may be handed out. */
		a = off > lo ? off : lo;
		b = off + pool_size(within) < lo + n ? off + pool_size(within) : lo + n;
		if (a >= b)
			return -ENOSPC;
		lo = a;
		n = b - a;
	}
	if (want) {
		if (offset_in(pool, want, &off) || off < lo || off >= lo + n)
			return -EINVAL;
		lo = off;
		n = 1;
	}
	lock(ipam);
	ret = claim(ipam, f, id, ifname, lo, n, out);
	unlock(ipam);
	return ret;
}

static void addr_path(const struct ipam *ipam, const struct ipam_prefix *addr, char *path, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(addr->family, &addr->addr, ip, sizeof(ip));
	snprintf(path, len, "%s/%d/%s", ipam->dir, addr->family == AF_INET6 ? 6 : 4, ip);
}

int ipam_owner(struct ipam *ipam, const struct ipam_prefix *addr, char *id, size_t idlen, char *ifname, size_t iflen)
{
	char path[700];
	bool ok;

	if (addr->family != AF_INET && addr->family != AF_INET6)
		return -EINVAL;
	addr_path(ipam, addr, path, sizeof(path));
	lock(ipam);
	ok = read_owner(path, id, idlen, ifname, iflen);
	unlock(ipam);
	return ok ? 0 : -ENOENT;
}

int ipam_rekey(struct ipam *ipam, const struct ipam_prefix *addr, const char *id, const char *ifname)
{
	char path[700], tmp[720];
	int fd, ret = 0;

	if (!safe_name(id) || !safe_name(ifname) || (addr->family != AF_INET && addr->family != AF_INET6))
		return -EINVAL;
	addr_path(ipam, addr, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s~%d", path, (int)getpid());
	lock(ipam);
	if (access(path, F_OK)) {
		ret = -ENOENT;
		goto out;
	}
	/* Replaced whole: the address is held throughout. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dprintf(fd, "%s\n%s\n", id, ifname) < 0 || fsync(fd) || rename(tmp, path))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp);
out:
	unlock(ipam);
	return ret;
}

int ipam_release_addr(struct ipam *ipam, const struct ipam_prefix *addr)
{
	char path[700];
	int ret = 0;

	if (addr->family != AF_INET && addr->family != AF_INET6)
		return -EINVAL;
	addr_path(ipam, addr, path, sizeof(path));
	lock(ipam);
	if (unlink(path))
		ret = -errno;
	unlock(ipam);
	return ret;
}
