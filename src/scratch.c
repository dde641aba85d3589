/*
 * Scratch files: the unlinked temporary files of message preparation,
 * the 8BITMIME downgrade and DKIM.  When the message is in the spool,
 * so are they (postern(8), "Privileges"): a file the caller could reach
 * by name in its TMPDIR would show it a message of another, or of the
 * system configuration's account.  O_TMPFILE where the file system has
 * it (no name at all); else a mode 0600 file in the spool's tmp/
 * directory, unlinked at once, which no caller can reach without the
 * spool's group.  With the queue off the message is the caller's own and
 * TMPDIR (else /tmp) is used, so that a read-only root works.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

static char	*spooldir;	/* NULL: TMPDIR */

/* Scratch files go into the spool dir (NULL: into TMPDIR). */
void
scratch_dir(const char *dir)
{
	free(spooldir);
	spooldir = dir != NULL ? xstrdup(dir) : NULL;
}

/* mkstemp in dir, unlinked; -1 with errno. */
static int
named(const char *dir)
{
	char	*path;
	int	 fd, saved;

	xasprintf(&path, "%s/postern.XXXXXXXXXX", dir);
	if ((fd = mkstemp(path)) != -1)
		(void)unlink(path);
	saved = errno;
	free(path);
	errno = saved;
	return fd;
}

/* In the spool, with its group held around the calls that need it. */
static int
in_spool(struct err *e)
{
	char	*sub;
	int	 fd, saved;

	priv_hold();
	fd = open(spooldir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
	if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR ||
	    errno == EINVAL)) {
		xasprintf(&sub, "%s/tmp", spooldir);
		if (mkdir(sub, 0770) == -1 && errno != EEXIST)
			fd = -1;
		else
			fd = named(sub);
		saved = errno;
		free(sub);
		errno = saved;
	}
	saved = errno;
	priv_drop();
	if (fd == -1)
		err_set(e, ERR_CANTCREAT, "a temporary file in %s: %s",
		    spooldir, strerror(saved));
	return fd;
}

/* A new unlinked read-write file; -1 with e. */
int
scratch_open(struct err *e)
{
	const char	*tmpdir;
	int		 fd;

	if (spooldir != NULL)
		return in_spool(e);
	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	if ((fd = named(tmpdir)) == -1)
		err_set(e, ERR_CANTCREAT, "a temporary file in %s: %s",
		    tmpdir, strerror(errno));
	return fd;
}
