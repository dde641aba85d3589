/*
 * Small helpers shared by every module: allocation that cannot return
 * NULL (running out of memory ends the process with EX_OSERR before
 * anything half-done can be sent), and the host's FQDN.
 */
#include "config.h"
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "extern.h"

static void
oom(void)
{
	log_warnx("out of memory");
	exit(EX_OSERR);
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		oom();
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n, size)) == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		oom();
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return n;
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	n;

	if ((n = vasprintf(ret, fmt, ap)) == -1)
		oom();
	return n;
}

/* Does the text hold a byte that is not ASCII? */
int
util_has8bit(const char *s, size_t n)
{
	while (n-- > 0)
		if ((unsigned char)*s++ >= 0x80)
			return 1;
	return 0;
}

/* Append n bytes to a growing string, kept NUL-terminated. */
void
util_stradd(struct strbuf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
	if (n > 0)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
util_stradds(struct strbuf *b, const char *p)
{
	util_stradd(b, p, strlen(p));
}

/*
 * The host's fully qualified name, as the resolver's canonical name for
 * gethostname(); the bare host name when there is none.
 */
char *
util_fqdn(void)
{
	char		 host[256];
	struct addrinfo	 hints, *res;
	char		*fqdn;

	if (gethostname(host, sizeof(host)) == -1)
		(void)strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return xstrdup(host);
	if (res->ai_canonname != NULL && strchr(res->ai_canonname, '.'))
		fqdn = xstrdup(res->ai_canonname);
	else
		fqdn = xstrdup(host);
	freeaddrinfo(res);
	return fqdn;
}

/* Write all n bytes (EINTR retried): 0, or -1 with errno. */
int
util_writeall(int fd, const void *buf, size_t n)
{
	const char	*p = buf;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The value of a hexadecimal digit (either case), or -1. */
int
util_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}
