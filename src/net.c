/*
 * Connections: resolve, connect (every address getaddrinfo returns, in
 * order), and buffered line I/O with a timeout on every step, over plain
 * TCP or, once tls_start() ran, over TLS.  Writes are collected in a
 * buffer and go out in few large writes (net_flush), so that a pipelined
 * group of commands is one segment and the body is not one write per line.
 * Failures here are temporary (ERR_TEMP): the smarthost may come back.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

/* Wait until fd is ready for events, or the step's timeout passes. */
int
net_wait(struct conn *c, short events, struct err *e)
{
	struct pollfd	pfd;
	int		n;

	pfd.fd = c->fd;
	pfd.events = events;
	for (;;) {
		n = poll(&pfd, 1, c->timeout > 0 ? c->timeout : -1);
		if (n > 0)
			return 0;
		if (n == 0)
			return err_set(e, ERR_TEMP, "%s: timed out after %d "
			    "seconds", c->peer, c->timeout / 1000);
		if (errno != EINTR)
			return err_set(e, ERR_TEMP, "%s: poll: %s", c->peer,
			    strerror(errno));
	}
}

/* Bind to source_ip before connecting; its family must match. */
static int
bind_source(int fd, const struct addrinfo *ai, const char *src,
    struct err *e)
{
	struct addrinfo	 hints, *res;
	int		 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = ai->ai_family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if ((rc = getaddrinfo(src, NULL, &hints, &res)) != 0)
		return err_set(e, ERR_TEMP, "source_ip %s: %s", src,
		    gai_strerror(rc));
	rc = bind(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc == -1)
		return err_set(e, ERR_TEMP, "source_ip %s: bind: %s", src,
		    strerror(errno));
	return 0;
}

static int
try_connect(struct conn *c, const struct addrinfo *ai, const char *src,
    struct err *e)
{
	int		fd, on = 1, soerr = 0;
	socklen_t	len = sizeof(soerr);
	char		host[INET6_ADDRSTRLEN], serv[8];

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host),
	    serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		(void)strlcpy(host, "?", sizeof(host));
	if (ai->ai_family == AF_INET6)
		(void)snprintf(c->peer, sizeof(c->peer), "[%s]:%s", host,
		    serv);
	else
		(void)snprintf(c->peer, sizeof(c->peer), "%s:%s", host, serv);
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return err_set(e, ERR_TEMP, "%s: socket: %s", c->peer,
		    strerror(errno));
	c->fd = fd;
	if (src != NULL && bind_source(fd, ai, src, e) == -1) {
		close(fd);
		c->fd = -1;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		if (net_wait(c, POLLOUT, e) == -1) {
			close(fd);
			c->fd = -1;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	/* Commands go out in deliberate groups: never wait for Nagle. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	log_debug("connected to %s", c->peer);
	return 0;
fail:
	err_set(e, ERR_TEMP, "%s: connect: %s", c->peer, strerror(errno));
	close(fd);
	c->fd = -1;
	return -1;
}

/*
 * Connect to host:port with a timeout of timeout seconds per step (0:
 * none), from source address src when it is not NULL.  Every address is
 * tried in turn; the last error is reported.
 */
int
net_connect(struct conn *c, const char *host, unsigned int port, int timeout,
    const char *src, struct err *e)
{
	struct addrinfo	 hints, *res, *ai;
	char		 serv[16];
	int		 rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout = timeout * 1000;
	(void)snprintf(serv, sizeof(serv), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	/*
	 * An address literal needs no lookup, and AI_ADDRCONFIG's question
	 * to the kernel (a netlink dump of every interface address) answers
	 * nothing for it: the connection says whether it can be made.
	 */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, serv, &hints, &res)) == EAI_NONAME) {
		hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
		rc = getaddrinfo(host, serv, &hints, &res);
	}
	if (rc != 0)
		return err_set(e, ERR_TEMP, "%s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	rc = -1;
	for (ai = res; ai != NULL && rc == -1; ai = ai->ai_next) {
		if ((rc = try_connect(c, ai, src, e)) == -1 &&
		    ai->ai_next != NULL)
			log_debug("%s", e->msg);
	}
	freeaddrinfo(res);
	return rc;
}

/* Fill the read buffer with what the peer sent; 0 at EOF. */
static ssize_t
net_fill(struct conn *c, struct err *e)
{
	ssize_t	n;

	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->tls != NULL)
		return tls_read(c, c->rbuf + c->rlen,
		    sizeof(c->rbuf) - c->rlen, e);
	for (;;) {
		n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (net_wait(c, POLLIN, e) == -1)
				return -1;
		} else if (errno != EINTR) {
			err_set(e, ERR_TEMP, "%s: read: %s", c->peer,
			    strerror(errno));
			return -1;
		}
	}
}

/*
 * Read one line (up to and including LF) into buf as a NUL-terminated
 * string; *len is its length.  A line longer than the buffer is returned
 * in pieces without an LF: the caller treats that as malformed.
 */
int
net_readline(struct conn *c, char *buf, size_t size, size_t *len,
    struct err *e)
{
	char	*lf;
	size_t	 n;
	ssize_t	 got;

	for (;;) {
		lf = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
		if (lf != NULL || c->rlen - c->rpos >= size - 1)
			break;
		if (c->rlen == sizeof(c->rbuf) && c->rpos == 0)
			break;
		if ((got = net_fill(c, e)) == -1)
			return -1;
		if (got == 0)
			return err_set(e, ERR_TEMP, "%s: connection closed "
			    "by the server", c->peer);
		c->rlen += (size_t)got;
	}
	n = lf != NULL ? (size_t)(lf - (c->rbuf + c->rpos)) + 1 :
	    c->rlen - c->rpos;
	if (n > size - 1)
		n = size - 1;
	memcpy(buf, c->rbuf + c->rpos, n);
	buf[n] = '\0';
	c->rpos += n;
	*len = n;
	return 0;
}

/* Bytes received but not yet consumed (the STARTTLS injection check). */
int
net_pending(struct conn *c)
{
	char	b;

	if (c->rlen > c->rpos)
		return 1;
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

int
net_write(struct conn *c, const void *p, size_t n, struct err *e)
{
	if (c->wlen + n > c->wcap) {
		size_t	 cap = c->wcap > 0 ? c->wcap : 65536;
		char	*nb;

		while (cap < c->wlen + n)
			cap *= 2;
		/* Not realloc: the old block may hold an AUTH response. */
		nb = xcalloc(cap, 1);
		if (c->wlen > 0)
			memcpy(nb, c->wbuf, c->wlen);
		if (c->wbuf != NULL)
			freezero(c->wbuf, c->wcap);
		c->wbuf = nb;
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
	(void)e;
	return 0;
}

/* Send everything buffered. */
int
net_flush(struct conn *c, struct err *e)
{
	size_t	off = 0;
	ssize_t	n;

	if (c->tls != NULL) {
		if (c->wlen > 0 && tls_write(c, c->wbuf, c->wlen, e) == -1)
			return -1;
		explicit_bzero(c->wbuf, c->wlen);
		c->wlen = 0;
		return 0;
	}
	while (off < c->wlen) {
		n = write(c->fd, c->wbuf + off, c->wlen - off);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (net_wait(c, POLLOUT, e) == -1)
				return -1;
		} else if (errno == EPIPE || errno == ECONNRESET)
			return err_set(e, ERR_TEMP, "%s: the server closed the "
			    "connection while postern was writing", c->peer);
		else if (errno != EINTR)
			return err_set(e, ERR_TEMP, "%s: write: %s", c->peer,
			    strerror(errno));
	}
	/* What went out may have been an AUTH response. */
	explicit_bzero(c->wbuf, c->wlen);
	c->wlen = 0;
	return 0;
}

void
net_close(struct conn *c)
{
	if (c->tls != NULL || c->tls_ready != NULL)
		tls_close(c);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	if (c->wbuf != NULL)
		freezero(c->wbuf, c->wcap);
	c->wbuf = NULL;
	c->wlen = c->wcap = 0;
}
