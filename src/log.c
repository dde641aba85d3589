/*
 * Errors and logging.  A struct err carries an error class and a one-line
 * message from the module that failed up to main.c.  The -v transcript
 * goes to stderr: "-> " a line postern sent, "<- " a line it received,
 * "-- " everything else (DESIGN.md).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "extern.h"

static int	verbose;

int
err_setv(struct err *e, enum errclass cls, const char *fmt, va_list ap)
{
	e->cls = cls;
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -1;
}

int
err_set(struct err *e, enum errclass cls, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	err_setv(e, cls, fmt, ap);
	va_end(ap);
	return -1;
}

void
log_init(int v)
{
	verbose = v;
}

int
log_verbose(void)
{
	return verbose;
}

/*
 * A received line made safe to print: its line end cut off and any byte
 * that is not printable shown as \xNN, so that a hostile server cannot
 * write terminal escapes through -v or an error message.  Truncated to
 * fit dst.
 */
void
log_escape(char *dst, size_t size, const char *src, size_t len)
{
	size_t	i, o = 0;

	while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r'))
		len--;
	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f)
			dst[o++] = (char)c;
		else if (o + 5 <= size)
			o += (size_t)snprintf(dst + o, size - o, "\\x%02X", c);
		else
			break;
	}
	if (size > 0)
		dst[o < size ? o : size - 1] = '\0';
}

/* One protocol line for the transcript. */
void
log_proto(const char *prefix, const char *line, size_t len)
{
	char	buf[1024];

	if (!verbose)
		return;
	log_escape(buf, sizeof(buf), line, len);
	fprintf(stderr, "%s%s\n", prefix, buf);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!verbose)
		return;
	fputs("-- ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", getprogname());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
}

/*
 * A summary line for syslog(LOG_MAIL): what became of a message.  Never
 * holds a secret.  Not echoed with -v: the transcript stays the protocol.
 */
void
log_mail(int prio, const char *fmt, ...)
{
	static int	opened;
	va_list		ap;

	if (!opened) {
		openlog("postern", LOG_PID | LOG_NDELAY, LOG_MAIL);
		opened = 1;
	}
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}
