/*
 * --read-envelope-from (msmtp's): the envelope sender is the address of
 * the message's From field, known before the account is chosen (an
 * account may be chosen by it).  Standard input is copied to an
 * unlinked scratch file (scratch.c: $TMPDIR, the account not being
 * known yet; the bytes are the caller's own) that stands in for it, so
 * that the message is still read once, by msg_read(), and the body is
 * never held in memory.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "extern.h"

#define HDR_MAX	(1024 * 1024)	/* the header block limit (DESIGN.md) */

/* Copy fd into a temporary file and put that in fd's place. */
static int
spool_stdin(int fd, struct err *e)
{
	char	 buf[MSG_IOSZ];
	ssize_t	 n;
	int	 t;

	if ((t = scratch_open(e)) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(t);
			return err_set(e, ERR_IO, "standard input: %s",
			    strerror(errno));
		}
		if (msg_write(t, buf, (size_t)n, e) == -1) {
			close(t);
			return -1;
		}
	}
	if (lseek(t, 0, SEEK_SET) == -1 || dup2(t, fd) == -1) {
		close(t);
		return err_set(e, ERR_IO, "temporary file: %s",
		    strerror(errno));
	}
	close(t);
	return 0;
}

/* The value of the first From field of the header block in h. */
static char *
from_field(const char *h, size_t n)
{
	size_t	 i = 0, j, len;

	while (i < n && h[i] != '\n' && !(h[i] == '\r' && i + 1 < n &&
	    h[i + 1] == '\n')) {
		/* The field runs up to a line end not followed by WSP. */
		for (j = i; j < n; j++)
			if (h[j] == '\n' && (j + 1 >= n ||
			    (h[j + 1] != ' ' && h[j + 1] != '\t')))
				break;
		if (j - i > 5 && strncasecmp(h + i, "From:", 5) == 0)
			return msg_unfold(h + i + 5, j - i - 5, &len);
		i = j + 1;
	}
	return NULL;
}

/*
 * Read standard input (fd) into a temporary file put in its place, and
 * return the address of its From field in *from (NUL-terminated,
 * allocated).  A first "From " line (mbox) is skipped, as msg.c does.
 */
int
envfrom_read(int fd, char **from, struct err *e)
{
	struct addrlist	 l;
	char		*h, *v;
	ssize_t		 n;
	size_t		 len = 0, off = 0;

	*from = NULL;
	if (spool_stdin(fd, e) == -1)
		return -1;
	h = xcalloc(1, HDR_MAX + 1);
	while (len < HDR_MAX && (n = read(fd, h + len, HDR_MAX - len)) > 0)
		len += (size_t)n;
	if (lseek(fd, 0, SEEK_SET) == -1) {
		free(h);
		return err_set(e, ERR_IO, "temporary file: %s",
		    strerror(errno));
	}
	if (len >= 5 && strncmp(h, "From ", 5) == 0)
		off = strcspn(h, "\n") + 1;
	v = off <= len ? from_field(h + off, len - off) : NULL;
	free(h);
	if (v == NULL)
		return err_set(e, ERR_DATA, "--read-envelope-from: the "
		    "message has no From field");
	memset(&l, 0, sizeof(l));
	if (addr_parse(v, "From", &l, e) == -1) {
		free(v);
		return -1;
	}
	free(v);
	if (l.n == 0) {
		addr_free(&l);
		return err_set(e, ERR_DATA, "--read-envelope-from: the From "
		    "field holds no address");
	}
	*from = xstrdup(l.v[0].spec);
	addr_free(&l);
	return 0;
}
