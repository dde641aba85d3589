/*
 * tlssink: a minimal SMTP sink with STARTTLS and AUTH, in C, for
 * tests/bench/resume.py.  Postfix's smtp-sink has no TLS and tests/smtpd.py
 * is Python, whose own time would dominate a TLS measurement; this one
 * costs little besides OpenSSL's work, which is what the benchmark is
 * about (the smarthost's cost of a handshake, full or resumed).
 *
 *     tlssink CERT KEY [noresume]
 *
 * Listens on 127.0.0.1, port 0; prints the port on standard output, then
 * serves one connection at a time until killed.  TCP_NODELAY.  TLS 1.3
 * with session tickets (OpenSSL's defaults: two after a full handshake,
 * one after a resumption); "noresume" sends none and refuses resumption.
 * Every AUTH succeeds; every command gets its 2xx; DATA is read up to the
 * final dot.  Replies to a pipelined group go out in one write, when no
 * more input is buffered (RFC 2920 section 3.2).  Benchmark code, never
 * installed, never run by make check.
 */
#define _GNU_SOURCE	/* memmem */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct cx {
	int	 fd;
	SSL	*ssl;
	char	 in[65536];
	size_t	 ilen;
	char	 out[8192];
	size_t	 olen;
	int	 indata;
	int	 authstep;	/* AUTH continuation lines still due */
};

static int
cx_read(struct cx *c)
{
	int	n;

	if (c->ilen == sizeof(c->in))
		c->ilen = 0;	/* a line too long: drop it */
	if (c->ssl != NULL)
		n = SSL_read(c->ssl, c->in + c->ilen,
		    (int)(sizeof(c->in) - c->ilen));
	else
		n = (int)read(c->fd, c->in + c->ilen, sizeof(c->in) - c->ilen);
	if (n <= 0)
		return -1;
	c->ilen += (size_t)n;
	return 0;
}

static int
cx_flush(struct cx *c)
{
	int	rc = 0;

	if (c->olen == 0)
		return 0;
	if (c->ssl != NULL)
		rc = SSL_write(c->ssl, c->out, (int)c->olen) > 0 ? 0 : -1;
	else
		rc = write(c->fd, c->out, c->olen) == (ssize_t)c->olen ? 0 : -1;
	c->olen = 0;
	return rc;
}

static void
say(struct cx *c, const char *s)
{
	size_t	n = strlen(s);

	if (c->olen + n > sizeof(c->out) && cx_flush(c) == -1)
		return;
	memcpy(c->out + c->olen, s, n);
	c->olen += n;
}

/* One command line (without CRLF); 1 to start TLS, -1 to close. */
static int
command(struct cx *c, char *line)
{
	if (c->authstep > 0) {
		if (--c->authstep == 0)
			say(c, "235 2.7.0 Authentication successful\r\n");
		else
			say(c, "334 UGFzc3dvcmQ6\r\n");
		return 0;
	}
	if (strncasecmp(line, "EHLO", 4) == 0) {
		say(c, "250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n");
		say(c, c->ssl == NULL ? "250 STARTTLS\r\n" :
		    "250 AUTH PLAIN LOGIN\r\n");
	} else if (strncasecmp(line, "HELO", 4) == 0)
		say(c, "250 sink\r\n");
	else if (strncasecmp(line, "STARTTLS", 8) == 0) {
		say(c, "220 2.0.0 Ready to start TLS\r\n");
		return 1;
	} else if (strncasecmp(line, "AUTH PLAIN ", 11) == 0)
		say(c, "235 2.7.0 Authentication successful\r\n");
	else if (strncasecmp(line, "AUTH PLAIN", 10) == 0) {
		say(c, "334 \r\n");
		c->authstep = 1;
	} else if (strncasecmp(line, "AUTH LOGIN", 10) == 0) {
		say(c, "334 VXNlcm5hbWU6\r\n");
		c->authstep = 2;
	} else if (strncasecmp(line, "DATA", 4) == 0) {
		say(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		c->indata = 1;
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		say(c, "221 2.0.0 Bye\r\n");
		return -1;
	} else
		say(c, "250 2.0.0 Ok\r\n");
	return 0;
}

static void
serve(SSL_CTX *ctx, int fd)
{
	struct cx	 c;
	char		*lf, *end;
	size_t		 n;
	int		 rc, on = 1;

	memset(&c, 0, sizeof(c));
	c.fd = fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	say(&c, "220 sink ESMTP tlssink\r\n");
	if (cx_flush(&c) == -1)
		return;
	for (;;) {
		if (c.ilen == 0 || (c.ssl != NULL && c.ilen == 0)) {
			if (cx_flush(&c) == -1 || cx_read(&c) == -1)
				break;
		}
		if (c.indata) {
			/* the final dot: CRLF.CRLF, the DATA line's CRLF counts */
			end = memmem(c.in, c.ilen, "\r\n.\r\n", 5);
			if (end == NULL && c.ilen >= 3 &&
			    memcmp(c.in, ".\r\n", 3) == 0)
				end = c.in - 2;
			if (end == NULL) {
				/* keep the last 4 bytes: a dot may straddle */
				if (c.ilen > 4) {
					memmove(c.in, c.in + c.ilen - 4, 4);
					c.ilen = 4;
				}
				if (cx_flush(&c) == -1 || cx_read(&c) == -1)
					break;
				continue;
			}
			n = (size_t)(end + 5 - c.in);
			memmove(c.in, c.in + n, c.ilen - n);
			c.ilen -= n;
			c.indata = 0;
			say(&c, "250 2.0.0 Ok: queued\r\n");
			continue;
		}
		if ((lf = memchr(c.in, '\n', c.ilen)) == NULL) {
			if (cx_flush(&c) == -1 || cx_read(&c) == -1)
				break;
			continue;
		}
		*lf = '\0';
		if (lf > c.in && lf[-1] == '\r')
			lf[-1] = '\0';
		rc = command(&c, c.in);
		n = (size_t)(lf + 1 - c.in);
		memmove(c.in, c.in + n, c.ilen - n);
		c.ilen -= n;
		if (rc == -1)
			break;
		if (rc == 1) {
			if (cx_flush(&c) == -1)
				break;
			c.ilen = 0;
			if ((c.ssl = SSL_new(ctx)) == NULL ||
			    SSL_set_fd(c.ssl, fd) != 1 || SSL_accept(c.ssl) != 1)
				break;
		}
	}
	(void)cx_flush(&c);
	if (c.ssl != NULL) {
		(void)SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
	ERR_clear_error();
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	SSL_CTX			*ctx;
	int			 lfd, fd, on = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: tlssink CERT KEY [noresume]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (argc > 3 && strcmp(argv[3], "noresume") == 0) {
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 256) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		perror("tlssink");
		return 1;
	}
	printf("%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		serve(ctx, fd);
		close(fd);
	}
}
