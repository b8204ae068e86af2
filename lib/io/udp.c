// SPDX-License-Identifier: MIT
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/netns.h"

enum {
	BATCH = 128,
	SOCKET_BUFFER = 7 << 20,
	/* The kernel's limit on segments in one UDP_SEGMENT send before 6.9. */
	GSO_MAX_SEGMENTS = 64,
};

static void set_buffers(int fd)
{
	int size = SOCKET_BUFFER;

	/* As root we may exceed net.core.{r,w}mem_max; otherwise take what
	 * the limit allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static int open_socket(int family, uint16_t port, uint32_t fwmark)
{
	union {
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	int fd, one = 1, err;
	/* Like kernel WireGuard, let the outer packets be fragmented rather
	 * than dropped when a path's MTU is small. */
	int pmtu = family == AF_INET ? IP_PMTUDISC_DONT : IPV6_PMTUDISC_DONT;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	if (family == AF_INET) {
		addr.in4.sin_family = AF_INET;
		addr.in4.sin_port = htons(port);
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) ||
		    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)))
			goto fail;
	} else {
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu)))
			goto fail;
	}
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		goto fail;
	set_buffers(fd);
	if (bind(fd, (struct sockaddr *)&addr, family == AF_INET ? sizeof(addr.in4) : sizeof(addr.in6)))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

int udp_bind(struct udp_socks *s, uint16_t *port, uint32_t fwmark, int ns_fd)
{
	int saved, ret, fd4 = -1, fd6 = -1;
	uint16_t p = *port;

	ret = netns_enter(ns_fd, &saved);
	if (ret)
		return ret;
	/* With port 0 the kernel picks for IPv4; that port may be taken for
	 * IPv6, so try a few times, as kernel WireGuard does. */
	for (int attempt = 0; attempt < 100; ++attempt) {
		fd4 = open_socket(AF_INET, p, fwmark);
		if (fd4 < 0) {
			ret = fd4;
			goto out;
		}
		p = bound_port(fd4);
		fd6 = open_socket(AF_INET6, p, fwmark);
		if (fd6 >= 0 || fd6 == -EAFNOSUPPORT || fd6 == -EADDRNOTAVAIL)
			break;
		close(fd4);
		fd4 = -1;
		ret = fd6;
		if (fd6 != -EADDRINUSE || *port)
			goto out;
		p = 0;
	}
	if (fd4 < 0)
		goto out;
	s->fd4 = fd4;
	s->fd6 = fd6 >= 0 ? fd6 : -1;
	s->port = p;
	*port = p;
	ret = 0;
out:
	netns_leave(saved);
	return ret;
}

void udp_close(struct udp_socks *s)
{
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = s->fd6 = -1;
}

int udp_set_fwmark(struct udp_socks *s, uint32_t fwmark)
{
	if (s->fd4 >= 0 && setsockopt(s->fd4, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		return -errno;
	if (s->fd6 >= 0 && setsockopt(s->fd6, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		return -errno;
	return 0;
}

union cmsg_space {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
};

static bool has_src(const struct wg_endpoint *ep)
{
	if (ep->addr.sa.sa_family == AF_INET)
		return ep->src4.s_addr != 0;
	return !IN6_IS_ADDR_UNSPECIFIED(&ep->src6);
}

/* The source address to send from: the one the peer last reached us on. */
static socklen_t put_src(const struct wg_endpoint *ep, struct cmsghdr *c)
{
	if (ep->addr.sa.sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = ep->src4 };

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = { .ipi6_addr = ep->src6 };

		/* A link-local source only means something on its link. */
		if (IN6_IS_ADDR_LINKLOCAL(&ep->src6))
			pi.ipi6_ifindex = (unsigned)ep->src_ifindex;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
}

static socklen_t put_segment(struct cmsghdr *c, uint16_t size)
{
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(size));
	memcpy(CMSG_DATA(c), &size, sizeof(size));
	return CMSG_SPACE(sizeof(size));
}

/* Set when an egress device could not do the checksums UDP GSO needs
 * (EIO); from then on this process sends datagram by datagram. */
static atomic_bool gso_broken;

/*
 * Sends n datagrams to ep in as few system calls as possible: runs of
 * equal-sized datagrams (a shorter one may end a run) become one
 * UDP_SEGMENT message each, and all messages go in one sendmmsg.
 */
int udp_send(const struct udp_socks *s, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union cmsg_space cs[BATCH];
	unsigned held[BATCH];
	int fd = ep->addr.sa.sa_family == AF_INET ? s->fd4 : s->fd6;
	uint32_t max_total = ep->addr.sa.sa_family == AF_INET ? 65507 : 65527;
	bool gso = n > 1 && !atomic_load_explicit(&gso_broken, memory_order_relaxed);
	bool src_dropped = false;
	unsigned done = 0;

	if (fd < 0)
		return ep->addr.sa.sa_family == AF_INET6 ? -EAFNOSUPPORT : -ENOTCONN;
	while (done < n) {
		unsigned nmsg = 0, i = done;
		bool src = has_src(ep);
		int sent;

		while (i < n && nmsg < BATCH) {
			struct msghdr *mh = &msgs[nmsg].msg_hdr;
			uint32_t seg = bufs[i].len, total = 0;
			unsigned count = 0;
			socklen_t clen = 0;

			memset(&msgs[nmsg], 0, sizeof(msgs[nmsg]));
			mh->msg_iov = &iov[i - done];
			do {
				iov[i - done].iov_base = bufs[i].data;
				iov[i - done].iov_len = bufs[i].len;
				total += bufs[i].len;
				++count;
				++i;
			} while (gso && i < n && i - done < BATCH && count < GSO_MAX_SEGMENTS && bufs[i - 1].len == seg &&
				 bufs[i].len <= seg && total + bufs[i].len <= max_total);
			mh->msg_iovlen = count;
			mh->msg_name = (void *)&ep->addr;
			mh->msg_namelen = ep->addr.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
									     : sizeof(struct sockaddr_in6);
			memset(&cs[nmsg], 0, sizeof(cs[nmsg]));
			if (src)
				clen += put_src(ep, (struct cmsghdr *)(cs[nmsg].buf + clen));
			if (count > 1)
				clen += put_segment((struct cmsghdr *)(cs[nmsg].buf + clen), (uint16_t)seg);
			if (clen) {
				mh->msg_control = cs[nmsg].buf;
				mh->msg_controllen = clen;
			}
			held[nmsg++] = count;
			if (i - done == BATCH)
				break;
		}
		sent = sendmmsg(fd, msgs, nmsg, MSG_DONTWAIT);
		if (sent < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			if (gso && (err == EIO || err == EINVAL || err == EMSGSIZE)) {
				/* The route or device refused segmentation: once
				 * more, a datagram per message. */
				if (err == EIO)
					atomic_store(&gso_broken, true);
				gso = false;
				continue;
			}
			/* The address we replied from went away: forget it and
			 * let routing choose, once. */
			if (src && !src_dropped && (err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH)) {
				memset(&ep->src6, 0, sizeof(ep->src6));
				ep->src_ifindex = 0;
				src_dropped = true;
				continue;
			}
			/* A full socket buffer drops, as a full device queue would. */
			return -err;
		}
		for (int m = 0; m < sent; ++m)
			done += held[m];
	}
	return 0;
}

static void read_src(struct msghdr *mh, struct wg_endpoint *ep)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			ep->src4 = pi.ipi_addr;
			ep->src_ifindex = pi.ipi_ifindex;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			ep->src6 = pi.ipi6_addr;
			ep->src_ifindex = (int)pi.ipi6_ifindex;
		}
	}
}

int udp_recv(int fd, struct wg_pkt *pkts, unsigned n)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union cmsg_space cs[BATCH];
	int got, kept = 0;

	if (n > BATCH)
		n = BATCH;
	for (unsigned i = 0; i < n; ++i) {
		iov[i].iov_base = pkts[i].data;
		iov[i].iov_len = pkts[i].cap;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		memset(&pkts[i].ep, 0, sizeof(pkts[i].ep));
		msgs[i].msg_hdr.msg_name = &pkts[i].ep.addr;
		msgs[i].msg_hdr.msg_namelen = sizeof(pkts[i].ep.addr);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = cs[i].buf;
		msgs[i].msg_hdr.msg_controllen = sizeof(cs[i].buf);
	}
	got = recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL);
	if (got < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	for (int i = 0; i < got; ++i) {
		/* A datagram longer than our buffer cannot be a packet we could
		 * deliver: drop it rather than pass on a truncated one. */
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			continue;
		read_src(&msgs[i].msg_hdr, &pkts[i].ep);
		if (kept != i) {
			uint8_t *data = pkts[kept].data;
			uint32_t cap = pkts[kept].cap;

			/* Swap buffers so the kept ones come first. */
			pkts[kept].data = pkts[i].data;
			pkts[kept].cap = pkts[i].cap;
			pkts[kept].ep = pkts[i].ep;
			pkts[i].data = data;
			pkts[i].cap = cap;
		}
		pkts[kept].len = msgs[i].msg_len;
		++kept;
	}
	return kept;
}
