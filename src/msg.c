/*
 * Reading the message from standard input, once, into the prepared file
 * the client sends from: every line ends in CRLF (LF, CRLF or a bare CR on
 * input), a first "From " line (mbox) is dropped, NUL bytes are refused,
 * and without -i a line holding only "." ends the input (sendmail).  The
 * message is streamed: memory does not grow with its size.  The file is
 * not dot-stuffed; the client does that on the wire.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define MSG_IOSZ	65536

struct reader {
	const struct msgopts	*opts;
	struct msg		*m;
	char			 out[MSG_IOSZ];
	size_t			 outlen;
	size_t			 lineno;	/* 1-based, for messages */
	size_t			 linelen;	/* bytes of the current line */
	int			 pending_cr;
	int			 skip;		/* in the dropped mbox line */
	size_t			 held;		/* bytes held back at line start */
	char			 hold[5];	/* "From " or "." candidates */
	int			 done;		/* a lone "." ended the input */
};

static int
out_flush(struct reader *r, struct err *e)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < r->outlen) {
		n = write(r->m->fd, r->out + off, r->outlen - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(e, ERR_IO, "writing the message to a "
			    "temporary file: %s", strerror(errno));
		off += (size_t)n;
	}
	r->m->size += (off_t)r->outlen;
	r->outlen = 0;
	return 0;
}

static int
out_bytes(struct reader *r, const char *p, size_t n, struct err *e)
{
	while (n > 0) {
		size_t k = sizeof(r->out) - r->outlen;

		if (k > n)
			k = n;
		memcpy(r->out + r->outlen, p, k);
		r->outlen += k;
		p += k;
		n -= k;
		if (r->outlen == sizeof(r->out) && out_flush(r, e) == -1)
			return -1;
	}
	return 0;
}

/* Write out bytes held back at the start of a line: they are text. */
static int
release_hold(struct reader *r, struct err *e)
{
	size_t	n = r->held;

	r->held = 0;
	r->linelen += n;
	return out_bytes(r, r->hold, n, e);
}

static int
end_line(struct reader *r, struct err *e)
{
	r->lineno++;
	if (r->skip) {			/* the mbox "From " line: dropped */
		r->skip = 0;
		return 0;
	}
	if (r->held == 1 && r->hold[0] == '.' && !r->opts->ignoredots) {
		r->done = 1;
		return 0;
	}
	if (release_hold(r, e) == -1)
		return -1;
	if (r->linelen > r->m->maxline)
		r->m->maxline = r->linelen;
	r->linelen = 0;
	return out_bytes(r, "\r\n", 2, e);
}

/*
 * One byte of line text.  At the start of a line, "." (and on line 1,
 * "From ") is held back until it is known whether the line is special.
 */
static int
text_byte(struct reader *r, char c, struct err *e)
{
	if (r->skip)
		return 0;
	if ((unsigned char)c >= 0x80)
		r->m->eightbit = 1;
	if (r->linelen == 0 && r->held < sizeof(r->hold)) {
		r->hold[r->held++] = c;
		if (r->lineno == 1 &&
		    memcmp(r->hold, "From ", r->held) == 0) {
			if (r->held == sizeof(r->hold)) {
				r->skip = 1;
				r->held = 0;
			}
			return 0;
		}
		if (r->held == 1 && c == '.')
			return 0;
		return release_hold(r, e);
	}
	r->linelen++;
	return out_bytes(r, &c, 1, e);
}

static int
feed(struct reader *r, const char *buf, size_t n, struct err *e)
{
	size_t	i;

	for (i = 0; i < n && !r->done; i++) {
		char c = buf[i];

		if (r->pending_cr) {
			r->pending_cr = 0;
			if (end_line(r, e) == -1)
				return -1;
			if (c == '\n' || r->done)
				continue;
		}
		if (c == '\r')
			r->pending_cr = 1;
		else if (c == '\n') {
			if (end_line(r, e) == -1)
				return -1;
		} else if (c == '\0')
			return err_set(e, ERR_DATA, "NUL byte in the message "
			    "on line %zu", r->lineno);
		else if (text_byte(r, c, e) == -1)
			return -1;
	}
	return 0;
}

/*
 * Read the whole message from fd into an unlinked temporary file.
 */
int
msg_read(int fd, const struct msgopts *opts, struct msg *m, struct err *e)
{
	struct reader	*r;
	const char	*tmpdir;
	char		*path;
	char		 buf[MSG_IOSZ];
	ssize_t		 n;
	int		 rc = -1;

	memset(m, 0, sizeof(*m));
	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	xasprintf(&path, "%s/postern.XXXXXXXXXX", tmpdir);
	if ((m->fd = mkstemp(path)) == -1) {
		err_set(e, ERR_CANTCREAT, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	(void)unlink(path);
	free(path);
	r = xcalloc(1, sizeof(*r));
	r->opts = opts;
	r->m = m;
	r->lineno = 1;
	while (!r->done) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(e, ERR_IO, "reading the message: %s",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (feed(r, buf, (size_t)n, e) == -1)
			goto out;
	}
	/* A last line without its line end still ends in CRLF. */
	if (!r->done && (r->pending_cr || r->linelen > 0 || r->held > 0 ||
	    r->skip)) {
		r->pending_cr = 0;
		if (end_line(r, e) == -1)
			goto out;
	}
	if (out_flush(r, e) == -1)
		goto out;
	if (lseek(m->fd, 0, SEEK_SET) == -1) {
		err_set(e, ERR_IO, "temporary file: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(r);
	if (rc == -1)
		msg_close(m);
	return rc;
}

void
msg_close(struct msg *m)
{
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
}
