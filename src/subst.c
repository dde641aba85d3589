/*
 * What msmtp substitutes in configuration values: "~" at the start of a
 * file name (the caller's home directory) and, in "from", %U (the user),
 * %H (the host name), %C (its canonical name) and %M (/etc/mailname).
 * The environment ($USER, $LOGNAME, $HOSTNAME, $HOME) is what msmtp
 * reads, except in a set-id process (AT_SECURE), where the caller owns
 * the environment and the password database is asked instead: a user
 * must not choose the sender that an allow_from_override off account
 * gives them.
 */
#include "config.h"

#include <sys/auxv.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

/* Set-id: the environment belongs to someone the process does not trust. */
int
subst_secure(void)
{
	return getauxval(AT_SECURE) != 0;
}

/* A variable of the environment, unless set-id or empty. */
static const char *
env(const char *name)
{
	const char	*v;

	if (subst_secure() || (v = getenv(name)) == NULL || *v == '\0')
		return NULL;
	return v;
}

/* The caller's home directory: $HOME, else the password database. */
char *
subst_home(void)
{
	struct passwd	*pw;
	const char	*h;

	if ((h = env("HOME")) != NULL)
		return xstrdup(h);
	if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL)
		return xstrdup(pw->pw_dir);
	return xstrdup("/");
}

/* "~" or "~/..." at the start of a file name: the home directory. */
char *
subst_tilde(const char *path)
{
	char	*home, *out;

	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/'))
		return xstrdup(path);
	home = subst_home();
	xasprintf(&out, "%s%s", home, path + 1);
	free(home);
	return out;
}

/* %U: $USER, else $LOGNAME, else the login name (msmtp). */
char *
subst_user(void)
{
	struct passwd	*pw;
	const char	*u;
	char		*s;

	if ((u = env("USER")) != NULL || (u = env("LOGNAME")) != NULL)
		return xstrdup(u);
	if ((pw = getpwuid(getuid())) != NULL)
		return xstrdup(pw->pw_name);
	xasprintf(&s, "uid%lu", (unsigned long)getuid());
	return s;
}

/* %H: $HOSTNAME, else gethostname(). */
static char *
host_name(void)
{
	char		 buf[256];
	const char	*h;

	if ((h = env("HOSTNAME")) != NULL)
		return xstrdup(h);
	if (gethostname(buf, sizeof(buf)) == -1)
		return xstrdup("localhost");
	buf[sizeof(buf) - 1] = '\0';
	return xstrdup(buf);
}

/* %C: the resolver's canonical name of %H, or %H itself. */
static char *
canon_name(const char *host)
{
	struct addrinfo	 hints, *res;
	char		*c;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return xstrdup(host);
	c = xstrdup(res->ai_canonname != NULL ? res->ai_canonname : host);
	freeaddrinfo(res);
	return c;
}

/* %M: the first line of /etc/mailname, which must exist (msmtp). */
static char *
mail_name(struct err *e)
{
	FILE	*fp;
	char	 line[256];

	if ((fp = fopen(MAILNAME_FILE, "r")) == NULL) {
		err_set(e, ERR_CONFIG, "from: %%M: %s: %s", MAILNAME_FILE,
		    strerror(errno));
		return NULL;
	}
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	if (line[0] == '\0') {
		err_set(e, ERR_CONFIG, "from: %%M: %s is empty",
		    MAILNAME_FILE);
		return NULL;
	}
	return xstrdup(line);
}

/*
 * "from" with its patterns replaced, each one once, in msmtp's order:
 * %M, %U, %C, %H.  NULL and e set when one cannot be had.  The result
 * is checked as an address by the caller (no CR, LF or NUL can come of
 * it: each value is one line or a name).
 */
char *
subst_from(const char *from, struct err *e)
{
	static const char	 pats[] = "MUCH";
	struct strbuf		 b = { NULL, 0, 0 };
	char			*val[4] = { NULL, NULL, NULL, NULL }, *host;
	const char		*p, *q;
	size_t			 i;

	for (i = 0; i < 4; i++) {
		char pat[3] = { '%', pats[i], '\0' };

		if (strstr(from, pat) == NULL)
			continue;
		switch (pats[i]) {
		case 'M':
			val[i] = mail_name(e);
			break;
		case 'U':
			val[i] = subst_user();
			break;
		case 'C':
			host = host_name();
			val[i] = canon_name(host);
			free(host);
			break;
		default:
			val[i] = host_name();
			break;
		}
		if (val[i] == NULL)
			goto fail;
	}
	util_stradd(&b, "", 0);
	for (p = from; *p != '\0'; p++) {
		if (*p == '%' && p[1] != '\0' &&
		    (q = strchr(pats, p[1])) != NULL) {
			util_stradds(&b, val[q - pats]);
			p++;
		} else
			util_stradd(&b, p, 1);
	}
	for (i = 0; i < 4; i++)
		free(val[i]);
	return b.s;
fail:
	for (i = 0; i < 4; i++)
		free(val[i]);
	return NULL;
}

/* Does from hold a shell wildcard (msmtp: ?, * or [)? */
int
subst_wildcard(const char *from)
{
	return strpbrk(from, "?*[") != NULL;
}
