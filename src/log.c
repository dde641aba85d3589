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
 * One protocol line for the transcript, with its CRLF cut off and any
 * byte that is not printable shown as \xNN, so that a hostile server
 * cannot write terminal escapes through -v.
 */
void
log_proto(const char *prefix, const char *line, size_t len)
{
	size_t	i;

	if (!verbose)
		return;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	fputs(prefix, stderr);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c >= 0x20 && c < 0x7f)
			putc(c, stderr);
		else
			fprintf(stderr, "\\x%02X", c);
	}
	putc('\n', stderr);
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
