/*
 * The TLS session cache: one file per account and server in the tls/
 * directory of the account's queue, holding what tls.c gives it (a
 * session in DER form, with the ticket the server sent) and when it
 * expires.  A later process resumes the session with it and so skips the
 * certificate exchange and its verification (issue 16; Postfix's
 * smtp_tls_session_cache_database is the model).
 *
 * The file name is the SHA-256 of the cache key that tls.c builds from
 * everything that made the first handshake acceptable (host, port, SNI,
 * trust settings, fingerprint, client certificate, minimum version), so
 * a session is never offered where that handshake would not have been
 * accepted.  The key's digest is in the file too, and checked.
 *
 * A session holds secrets: the file is 0600 in a user's queue, 0660 and
 * of the spool group in the system spool, created under the spool group
 * like the queue files (priv_hold), and a file of another owner, group
 * or mode is ignored.  It is written to a temporary name and renamed
 * into place, without fsync: a session lost in a crash costs only one
 * full handshake.  Every failure here is silent (-v says it): the cache
 * is an optimisation, never a reason not to deliver.  Queue runs sweep
 * what a crash left and what has expired (tlscache_sweep).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define TLSCACHE_MAGIC	"postern-tls-session 1\n"
#define TLSCACHE_MAX	(64 * 1024)	/* a larger file is not ours */
#define TLSCACHE_TMPAGE	(60 * 60)	/* a tmp.* file left by a crash */
/*
 * A session file not written for this long has expired, whatever it
 * says: no ticket lives longer (RFC 8446 section 4.6.1), and tls.c keeps
 * a session no longer than its ticket.
 */
#define TLSCACHE_MAXAGE	(7 * 24 * 60 * 60)

/* Lower-case hex of the SHA-256 of len bytes at p, into hex[65]. */
static int
sha256_hex(const void *p, size_t len, char *hex)
{
	unsigned char	md[CRYPTO_MAXMD];
	size_t		i;

	if (crypto_hash(CRYPTO_SHA256, p, len, md) == -1)
		return -1;
	for (i = 0; i < 32; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/*
 * The SHA-256 of a file's contents in hex (the trust file and client
 * certificate in the cache key: a changed file is another key).  "-"
 * when it cannot be read: the handshake then reports why.
 */
void
tlscache_digest(const char *path, char *hex)
{
	struct crypto_hash	*h;
	unsigned char		 md[CRYPTO_MAXMD], buf[8192];
	ssize_t			 n;
	size_t			 i;
	int			 fd;

	(void)strlcpy(hex, "-", 65);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if ((h = crypto_hash_new(CRYPTO_SHA256)) == NULL) {
		close(fd);
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_hash_update(h, buf, (size_t)n);
	close(fd);
	if (crypto_hash_final(h, md) == -1 || n == -1)
		return;
	for (i = 0; i < 32; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* dir/tls, and dir/tls/NAME for the key, or NULL. */
static char *
cache_path(const char *dir, const char *key, char *keyhex)
{
	char	*path;

	if (sha256_hex(key, strlen(key), keyhex) == -1)
		return NULL;
	/* 32 hex digits name the file; all 64 are checked inside. */
	xasprintf(&path, "%s/tls/%.32s", dir, keyhex);
	return path;
}

/* Is the system spool's group in use (the setgid install)? */
static int
spool_group(const struct stat *st)
{
	return priv_group() != getgid() && st->st_gid == priv_group();
}

/*
 * A file we may trust: ours (or root's), a regular file, 0600, or 0660
 * of the spool group in the setgid install.  Anyone else's file could
 * hold a session whose secret they know.
 */
static int
trusted(const struct stat *st)
{
	mode_t	mode = st->st_mode & 07777;

	if (!S_ISREG(st->st_mode) || (st->st_uid != getuid() &&
	    st->st_uid != 0))
		return 0;
	return mode == 0600 || (mode == 0660 && spool_group(st));
}

/* Parse a cache file: the key's digest must match, not expired. */
static int
parse(char *buf, size_t n, const char *keyhex, unsigned char **der,
    size_t *len)
{
	const char	*errstr;
	char		*p = buf, *nl, num[32];
	long long	 expires;
	size_t		 m = strlen(TLSCACHE_MAGIC);

	if (n < m || memcmp(p, TLSCACHE_MAGIC, m) != 0)
		return -1;
	p += m;
	if ((size_t)(buf + n - p) < 4 + 64 + 1 || memcmp(p, "key ", 4) != 0 ||
	    memcmp(p + 4, keyhex, 64) != 0 || p[4 + 64] != '\n')
		return -1;
	p += 4 + 64 + 1;
	if ((nl = memchr(p, '\n', (size_t)(buf + n - p))) == NULL ||
	    strncmp(p, "expires ", 8) != 0 ||
	    (size_t)(nl - p) - 8 >= sizeof(num))
		return -1;
	memcpy(num, p + 8, (size_t)(nl - p) - 8);
	num[(size_t)(nl - p) - 8] = '\0';
	expires = strtonum(num, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	if ((long long)time(NULL) >= expires) {
		log_debug("TLS session cache: the session has expired");
		return -1;
	}
	p = nl + 1;
	if (p >= buf + n || *p++ != '\n' || p == buf + n)
		return -1;
	*len = (size_t)(buf + n - p);
	*der = xcalloc(1, *len);
	memcpy(*der, p, *len);
	return 0;
}

/*
 * The session cached under key in dir's tls/ directory: 0 with *der
 * (freezero it) and *len, or -1 when there is none that may be used.
 */
int
tlscache_get(const char *dir, const char *key, unsigned char **der,
    size_t *len)
{
	struct stat	 st;
	char		 keyhex[65], *path, *buf;
	ssize_t		 n;
	size_t		 got = 0, size;
	int		 fd, rc = -1;

	if ((path = cache_path(dir, key, keyhex)) == NULL)
		return -1;
	priv_hold();
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	priv_drop();
	free(path);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !trusted(&st) ||
	    st.st_size > TLSCACHE_MAX) {
		log_debug("TLS session cache: ignoring a file of another "
		    "owner or mode");
		close(fd);
		return -1;
	}
	size = (size_t)st.st_size;
	buf = xcalloc(1, size + 1);
	while (got < size && (n = read(fd, buf + got, size - got)) > 0)
		got += (size_t)n;
	close(fd);
	rc = parse(buf, got, keyhex, der, len);
	freezero(buf, size + 1);
	return rc;
}

/* dir/tls, made on first use with the mode its files get. */
static int
cache_dir(const char *dir, char **tdir)
{
	struct stat	st;
	int		rc = 0;

	xasprintf(tdir, "%s/tls", dir);
	priv_hold();
	if (mkdir(*tdir, 0700) == 0 && stat(dir, &st) == 0 &&
	    spool_group(&st))
		(void)chmod(*tdir, 02770);
	if (lstat(*tdir, &st) == -1 || !S_ISDIR(st.st_mode))
		rc = -1;
	priv_drop();
	return rc;
}

/*
 * Keep a session for key until expires: written to a temporary file,
 * renamed into place.  No fsync: losing it costs a full handshake.
 */
void
tlscache_put(const char *dir, const char *key, long long expires,
    const unsigned char *der, size_t len)
{
	struct stat	 st;
	char		 keyhex[65], head[160], *path, *tdir, *tmp;
	uint32_t	 r;
	int		 fd, hn, ok;

	if ((path = cache_path(dir, key, keyhex)) == NULL)
		return;
	if (cache_dir(dir, &tdir) == -1) {
		log_debug("TLS session cache: %s: not a usable directory",
		    tdir);
		free(tdir);
		free(path);
		return;
	}
	arc4random_buf(&r, sizeof(r));
	xasprintf(&tmp, "%s/tmp.%08x", tdir, (unsigned int)r);
	hn = snprintf(head, sizeof(head), "%skey %s\nexpires %lld\n\n",
	    TLSCACHE_MAGIC, keyhex, expires);
	priv_hold();
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	ok = fd != -1 && fstat(fd, &st) == 0;
	/* in the system spool the group must read it too */
	if (ok && stat(tdir, &st) == 0 && spool_group(&st))
		ok = fchmod(fd, 0660) == 0;
	ok = ok && write(fd, head, (size_t)hn) == hn &&
	    write(fd, der, len) == (ssize_t)len;
	if (fd != -1 && close(fd) == -1)
		ok = 0;
	if (ok)
		ok = rename(tmp, path) == 0;
	if (!ok) {
		log_debug("TLS session cache: cannot write %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			(void)unlink(tmp);
	}
	priv_drop();
	free(tmp);
	free(tdir);
	free(path);
}

/*
 * A name the cache writes: 32 lower-case hex digits, or "tmp." and 8 of
 * them; *maxage is how old such a file may grow.
 */
static int
cache_name(const char *name, time_t *maxage)
{
	size_t	len = strlen(name), i;

	if (len == 12 && strncmp(name, "tmp.", 4) == 0) {
		*maxage = TLSCACHE_TMPAGE;
		name += 4;
		len = 8;
	} else if (len == 32)
		*maxage = TLSCACHE_MAXAGE;
	else
		return 0;
	for (i = 0; i < len; i++)
		if (strchr("0123456789abcdef", name[i]) == NULL)
			return 0;
	return 1;
}

/*
 * In a queue run: remove from dir/tls what the cache will never read
 * again, a temporary file a crash left behind (an hour old) and a
 * session past any lifetime.  Keys change (a new trust file, another
 * port), and the files of the old ones would otherwise stay for ever.
 * Anything the cache does not name, and anything not a regular file, is
 * left alone.
 */
void
tlscache_sweep(const char *dir, time_t now)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	time_t		 maxage;
	char		*tdir;
	int		 dfd;

	xasprintf(&tdir, "%s/tls", dir);
	priv_hold();
	d = opendir(tdir);
	priv_drop();
	free(tdir);
	if (d == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (!cache_name(de->d_name, &maxage))
			continue;
		priv_hold();
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime + maxage < now &&
		    unlinkat(dfd, de->d_name, 0) == 0)
			log_debug("TLS session cache: removed the stale %s",
			    de->d_name);
		priv_drop();
	}
	closedir(d);
}
