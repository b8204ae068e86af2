// SPDX-License-Identifier: MIT
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"

enum { BATCH = 128, SOCKET_BUFFER = 7 << 20 };

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
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

static bool has_src(const struct wg_endpoint *ep)
{
	if (ep->addr.sa.sa_family == AF_INET)
		return ep->src4.s_addr != 0;
	return !IN6_IS_ADDR_UNSPECIFIED(&ep->src6);
}

/* The source address to send from: the one the peer last reached us on. */
static socklen_t put_src(const struct wg_endpoint *ep, union cmsg_space *cs)
{
	struct cmsghdr *c = &cs->align;

	memset(cs, 0, sizeof(*cs));
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

int udp_send(const struct udp_socks *s, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union cmsg_space cs;
	socklen_t cslen = 0;
	int fd = ep->addr.sa.sa_family == AF_INET ? s->fd4 : s->fd6;
	unsigned done = 0;
	bool retried = false;

	if (fd < 0)
		return ep->addr.sa.sa_family == AF_INET6 ? -EAFNOSUPPORT : -ENOTCONN;
	if (has_src(ep))
		cslen = put_src(ep, &cs);
	while (done < n) {
		unsigned batch = n - done < BATCH ? n - done : BATCH;
		int sent;

		for (unsigned i = 0; i < batch; ++i) {
			iov[i].iov_base = bufs[done + i].data;
			iov[i].iov_len = bufs[done + i].len;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_name = (void *)&ep->addr;
			msgs[i].msg_hdr.msg_namelen = ep->addr.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
										     : sizeof(struct sockaddr_in6);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			if (cslen) {
				msgs[i].msg_hdr.msg_control = cs.buf;
				msgs[i].msg_hdr.msg_controllen = cslen;
			}
		}
		sent = sendmmsg(fd, msgs, batch, MSG_DONTWAIT);
		if (sent < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			/* The address we replied from went away: forget it and
			 * let routing choose, once. */
			if (cslen && !retried && (err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH)) {
				memset(&ep->src6, 0, sizeof(ep->src6));
				ep->src_ifindex = 0;
				cslen = 0;
				retried = true;
				continue;
			}
			/* A full socket buffer drops, as a full device queue would. */
			return -err;
		}
		done += (unsigned)sent;
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
