/*
 * postern --import ssmtp|dma|nullmailer|msmtp [FILE...]: read another
 * program's configuration and print the equivalent postern.conf on
 * standard output.  Every setting without an equivalent becomes a
 * comment that says why; one that changes where mail goes (ssmtp's root=
 * and revaliases, dma's local delivery and MASQUERADE, nullmailer's
 * adminaddr and extra remotes) is never dropped without one.  Passwords
 * are copied, and the output then says the file must be mode 0600.
 *
 * The whole output is built in memory, checked by the configuration
 * parser itself, and printed only then: a malformed input line (65,
 * "file:line: reason"), a missing or unreadable file (66) or a bad
 * program name (64) prints nothing at all.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "extern.h"

#define IMPORT_WRAP	72	/* comment lines are folded here */

/* A file read whole, as lines without their end of line. */
struct lines {
	const char	*path;
	char		**v;
	size_t		  n;
};

/* The configuration being written: a heading and the accounts. */
struct imp {
	const char	*prog;
	struct strbuf	 head;
	struct strbuf	 body;
	int		 secret;	/* a password was copied */
};

/* What one program's settings come to, written by emit(). */
struct target {
	const char	*host;		/* NULL: no smarthost */
	unsigned int	 port;
	int		 tls, starttls, certcheck;
	int		 auth;		/* 0: off; else the AUTH_ mechanism */
	const char	*user, *password;
	const char	*trust, *cert, *key, *fpr, *source;
	const char	*domain, *maildomain, *from;
	int		 fixfrom;	/* the sender may not be changed */
	const char	*aliases;
};

/* --- reading ---------------------------------------------------------- */

static void
lines_free(struct lines *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		freezero(l->v[i], strlen(l->v[i]));
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * Read path into l.  1 when it does not exist and optional is set; -1
 * (66) when it cannot be read; 65 for a NUL or a control character, since
 * none can be written back into a configuration line.
 */
static int
lines_read(struct lines *l, const char *path, int optional, struct err *e)
{
	FILE		*fp;
	char		*line = NULL;
	size_t		 cap = 0, i;
	ssize_t		 len;
	int		 rc = 0;

	memset(l, 0, sizeof(*l));
	l->path = path;
	if ((fp = fopen(path, "r")) == NULL) {
		if (optional && errno == ENOENT)
			return 1;
		return err_set(e, ERR_NOINPUT, "%s: %s", path,
		    strerror(errno));
	}
	while (rc == 0 && (len = getline(&line, &cap, fp)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		for (i = 0; i < (size_t)len; i++)
			if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
				break;
		if (i < (size_t)len || line[len] != '\0') {
			rc = err_set(e, ERR_DATA, "%s:%zu: control character "
			    "0x%02x in the line", path, l->n + 1,
			    (unsigned char)line[i]);
			break;
		}
		if ((l->n & (l->n - 1)) == 0)
			l->v = xreallocarray(l->v, 2 * l->n + 1,
			    sizeof(*l->v));
		l->v[l->n++] = xstrdup(line);
	}
	if (rc == 0 && ferror(fp))
		rc = err_set(e, ERR_NOINPUT, "%s: %s", path, strerror(errno));
	fclose(fp);
	freezero(line, cap);
	if (rc == -1)
		lines_free(l);
	return rc;
}

/* A line's text with white space cut at both ends, in place. */
static char *
trim(char *s)
{
	char	*end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* --- writing ---------------------------------------------------------- */

static void
put(struct strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct strbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	util_stradd(b, s, (size_t)n);
	freezero(s, (size_t)n);
}

/* A comment, folded at white space. */
static void
note(struct imp *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note(struct imp *im, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, *p;
	size_t	 n, w;

	va_start(ap, fmt);
	(void)xvasprintf(&s, fmt, ap);
	va_end(ap);
	for (p = s; *p != '\0'; p += n) {
		p += strspn(p, " ");
		n = strlen(p);
		if (n > IMPORT_WRAP) {
			for (n = IMPORT_WRAP; n > 0 && p[n] != ' '; n--)
				continue;
			if (n == 0)
				n = strcspn(p, " ");
		}
		for (w = n; w > 0 && p[w - 1] == ' '; w--)
			continue;
		put(&im->body, "# %.*s\n", (int)w, p);
	}
	free(s);
}

/* "key value", quoted as the parser reads it back where it must be. */
static void
kv(struct imp *im, const char *key, const char *val)
{
	const char	*p;
	size_t		 n = strlen(val);

	if (n > 0 && val[0] != '"' && val[0] != ' ' && val[0] != '\t' &&
	    val[n - 1] != ' ' && val[n - 1] != '\t') {
		put(&im->body, "%s %s\n", key, val);
		return;
	}
	put(&im->body, "%s \"", key);
	for (p = val; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			util_stradd(&im->body, "\\", 1);
		util_stradd(&im->body, p, 1);
	}
	util_stradds(&im->body, "\"\n");
}

static void
kvnum(struct imp *im, const char *key, unsigned int v)
{
	put(&im->body, "%s %u\n", key, v);
}

/*
 * The connection settings of t as postern keys.  A password over a
 * connection that is not encrypted is not something postern does:
 * STARTTLS is asked for instead, said in a comment.
 */
static void
emit(struct imp *im, const struct target *t)
{
	if (t->host != NULL)
		kv(im, "host", t->host);
	if (t->port != 0)
		kvnum(im, "port", t->port);
	if (!t->tls && t->auth) {
		note(im, "%s sent the password without TLS; postern never "
		    "does: STARTTLS is asked for here, and a server that does "
		    "not offer it gets nothing.", im->prog);
		kv(im, "tls", "on");
		kv(im, "tls_starttls", "on");
	} else {
		kv(im, "tls", t->tls ? "on" : "off");
		if (t->tls)
			kv(im, "tls_starttls", t->starttls ? "on" : "off");
	}
	if (t->tls || t->auth) {
		if (t->trust != NULL)
			kv(im, "tls_trust_file", t->trust);
		if (t->fpr != NULL)
			kv(im, "tls_fingerprint", t->fpr);
		if (!t->certcheck)
			kv(im, "tls_certcheck", "off");
		if (t->cert != NULL)
			kv(im, "tls_cert_file", t->cert);
		if (t->key != NULL || t->cert != NULL)
			kv(im, "tls_key_file", t->key != NULL ? t->key :
			    t->cert);
	}
	if (t->auth) {
		kv(im, "auth", t->auth == AUTH_LOGIN ? "login" :
		    t->auth == AUTH_CRAM_MD5 ? "cram-md5" : "on");
		if (t->user != NULL)
			kv(im, "user", t->user);
		if (t->password != NULL) {
			kv(im, "password", t->password);
			im->secret = 1;
		}
	}
	if (t->source != NULL)
		kv(im, "source_ip", t->source);
}

/* Who the mail is from, and the aliases. */
static void
emit_id(struct imp *im, const struct target *t)
{
	if (t->domain != NULL)
		kv(im, "domain", t->domain);
	if (t->maildomain != NULL)
		kv(im, "maildomain", t->maildomain);
	if (t->from != NULL)
		kv(im, "from", t->from);
	if (t->fixfrom)
		kv(im, "allow_from_override", "off");
	if (t->aliases != NULL)
		kv(im, "aliases", t->aliases);
}

static void
target_init(struct target *t)
{
	memset(t, 0, sizeof(*t));
	t->certcheck = 1;
}

static int
yes(const char *v)
{
	return strcasecmp(v, "yes") == 0;
}

static int
port_of(const char *v, unsigned int *port, const struct lines *l, size_t i,
    struct err *e)
{
	const char	*errstr;

	*port = (unsigned int)strtonum(v, 1, 65535, &errstr);
	if (errstr != NULL)
		return err_set(e, ERR_DATA, "%s:%zu: port %s is %s", l->path,
		    i + 1, v, errstr);
	return 0;
}

/* An account name from a login name: what the parser takes. */
static void
acct_name(char *dst, size_t size, const char *prefix, const char *user)
{
	size_t	n;

	(void)strlcpy(dst, prefix, size);
	n = strlen(dst);
	for (; *user != '\0' && n + 1 < size; user++)
		dst[n++] = isalnum((unsigned char)*user) || *user == '.' ||
		    *user == '-' || *user == '_' ? *user : '_';
	dst[n] = '\0';
}

/* --- ssmtp ------------------------------------------------------------- */

/*
 * ssmtp.conf(5): KEY=VALUE, keys in any case, "#" starts a comment
 * anywhere, the value is one word.  A line without "=" is malformed.
 */
static int
ssmtp_conf(struct imp *im, struct lines *l, struct target *t,
    const char **root, struct err *e)
{
	char		*line, *key, *val;
	size_t		 i;
	int		 usetls = 0, starttls = 0, usecert = 0;

	t->host = "mailhub";	/* ssmtp's default */
	t->port = 25;
	for (i = 0; i < l->n; i++) {
		line = l->v[i];
		line[strcspn(line, "#")] = '\0';
		if (*trim(line) == '\0')
			continue;
		if ((val = strchr(line, '=')) == NULL)
			return err_set(e, ERR_DATA, "%s:%zu: expected "
			    "KEY=VALUE", l->path, i + 1);
		*val++ = '\0';
		key = trim(line);
		val = trim(val);
		val[strcspn(val, " \t=")] = '\0';
		if (strcasecmp(key, "root") == 0)
			*root = *val != '\0' ? val : NULL;
		else if (strcasecmp(key, "mailhub") == 0) {
			char *c = strchr(val, ':');

			if (c != NULL) {
				*c++ = '\0';
				if (port_of(c, &t->port, l, i, e) == -1)
					return -1;
			}
			if (*val == '\0')
				return err_set(e, ERR_DATA, "%s:%zu: mailhub "
				    "without a host", l->path, i + 1);
			t->host = val;
		} else if (strcasecmp(key, "remoteport") == 0) {
			if (port_of(val, &t->port, l, i, e) == -1)
				return -1;
		} else if (strcasecmp(key, "hostname") == 0)
			t->domain = *val != '\0' ? val : NULL;
		else if (strcasecmp(key, "rewritedomain") == 0)
			t->maildomain = *val != '\0' ? (strrchr(val, '@') ?
			    strrchr(val, '@') + 1 : val) : NULL;
		else if (strcasecmp(key, "fromlineoverride") == 0)
			t->fixfrom = !yes(val);
		else if (strcasecmp(key, "usetls") == 0) {
			usetls = yes(val);
			if (!usetls)
				starttls = 0;
		} else if (strcasecmp(key, "usestarttls") == 0) {
			starttls = yes(val);
			usetls |= starttls;
		} else if (strcasecmp(key, "usetlscert") == 0)
			usecert = yes(val);
		else if (strcasecmp(key, "tlscert") == 0)
			t->cert = val;
		else if (strcasecmp(key, "tlskey") == 0)
			t->key = val;
		else if (strcasecmp(key, "tls_ca_file") == 0)
			t->trust = val;
		else if (strcasecmp(key, "authuser") == 0) {
			t->user = val;
			if (t->auth == 0)
				t->auth = AUTH_ON;
		} else if (strcasecmp(key, "authpass") == 0)
			t->password = val;
		else if (strcasecmp(key, "authmethod") == 0) {
			if (strcasecmp(val, "cram-md5") == 0)
				t->auth = AUTH_CRAM_MD5;
		} else if (strcasecmp(key, "tls_ca_dir") == 0)
			note(im, "TLS_CA_Dir=%s: postern takes one "
			    "tls_trust_file, or the system's certificates.",
			    val);
		else if (strcasecmp(key, "addheader") == 0)
			note(im, "AddHeader: postern adds no header of your "
			    "choosing; the header is dropped.");
		else if (strcasecmp(key, "useoldauth") == 0 ||
		    strcasecmp(key, "debug") == 0)
			note(im, "%s=%s: no equivalent (postern -v shows the "
			    "session).", key, val);
		else
			note(im, "%s=%s: ssmtp ignored this key, and so does "
			    "the import.", key, val);
	}
	t->tls = usetls;
	t->starttls = starttls;
	if (!usecert)
		t->cert = t->key = NULL;
	if (t->maildomain == NULL)
		t->maildomain = t->domain;
	if (t->auth == AUTH_CRAM_MD5 && t->user == NULL)
		t->auth = 0;
	return 0;
}

/* revaliases: "login:address[:mailhub[:port]]". */
static int
ssmtp_revaliases(struct imp *im, struct lines *l, const struct target *def,
    struct err *e)
{
	char		*line, *user, *addr, *hub, *port, name[64];
	size_t		 i, k;
	unsigned int	 p = 0;

	for (i = 0; i < l->n; i++) {
		line = l->v[i];
		line[strcspn(line, "#")] = '\0';
		if (*(line = trim(line)) == '\0')
			continue;
		user = strsep(&line, ":");
		addr = strsep(&line, ":");
		hub = strsep(&line, ":");
		port = line;
		if (addr == NULL || *(user = trim(user)) == '\0' ||
		    *(addr = trim(addr)) == '\0')
			return err_set(e, ERR_DATA, "%s:%zu: expected "
			    "login:address[:mailhub[:port]]", l->path, i + 1);
		if (hub != NULL)
			hub = trim(hub);
		if (port != NULL && port_of(trim(port), &p, l, i, e) == -1)
			return -1;
		acct_name(name, sizeof(name), "revalias_", user);
		for (k = 0; k < i; k++)
			if (strcmp(trim(l->v[k]), user) == 0)
				return err_set(e, ERR_DATA, "%s:%zu: a second "
				    "line for %s (the first is line %zu)",
				    l->path, i + 1, user, k + 1);
		put(&im->body, "\n");
		note(im, "revaliases line %zu: mail from the local user %s "
		    "went out from %s%s%s.  postern takes this account for "
		    "envelope sender %s, or with -a %s; to make it %s's own, "
		    "give %s a per-user file with \"from %s\" (postern(8)).",
		    i + 1, user, addr, hub != NULL && *hub != '\0' ?
		    " through " : "", hub != NULL ? hub : "", addr, name, user,
		    user, addr);
		put(&im->body, "account %s : default\n", name);
		kv(im, "from", addr);
		if (hub != NULL && *hub != '\0' && strcmp(hub, def->host) != 0)
			kv(im, "host", hub);
		if (hub != NULL && *hub != '\0' && (p != 0 ? p : 25) !=
		    def->port)
			kvnum(im, "port", p != 0 ? p : 25);
	}
	return 0;
}

static void
root_note(struct imp *im, const char *root, const char *who)
{
	note(im, "%s: mail for root and the other system accounts went to "
	    "%s.  postern sends mail for a bare local name to that name at "
	    "maildomain, after the aliases: put this line (and one for each "
	    "system account that gets mail) into /etc/aliases,", who, root);
	put(&im->body, "#   root: %s\n", root);
	note(im, "and uncomment:");
	put(&im->body, "#aliases /etc/aliases\n");
}

static int
imp_ssmtp(struct imp *im, char **files, int nfiles, struct err *e)
{
	struct lines	 conf, rev;
	struct target	 t;
	const char	*root = NULL;
	int		 rc;

	if (nfiles > 2)
		return err_set(e, ERR_USAGE, "--import ssmtp takes "
		    "ssmtp.conf and revaliases, not %d files", nfiles);
	if (lines_read(&conf, nfiles > 0 ? files[0] :
	    "/etc/ssmtp/ssmtp.conf", 0, e) == -1)
		return -1;
	/* The default pair, or the files named: revaliases is optional. */
	memset(&rev, 0, sizeof(rev));
	if (nfiles == 1)
		rc = 1;
	else if ((rc = lines_read(&rev, nfiles > 1 ? files[1] :
	    "/etc/ssmtp/revaliases", nfiles == 0, e)) == -1) {
		lines_free(&conf);
		return -1;
	}
	put(&im->head, "# imported from ssmtp: %s%s%s\n", conf.path,
	    rc == 0 ? ", " : "", rc == 0 ? rev.path : "");
	target_init(&t);
	put(&im->body, "account default\n");
	if (ssmtp_conf(im, &conf, &t, &root, e) == -1)
		goto fail;
	if (t.tls)
		note(im, "postern checks the server's certificate, which "
		    "ssmtp did not do by default.");
	emit(im, &t);
	emit_id(im, &t);
	if (t.fixfrom) {
		note(im, "FromLineOverride=NO: ssmtp replaced the From "
		    "header and ignored -f; so does this:");
		kv(im, "set_from_header", "on");
	}
	if (root != NULL) {
		put(&im->body, "\n");
		root_note(im, root, "root=");
	}
	if (rc == 0 && ssmtp_revaliases(im, &rev, &t, e) == -1)
		goto fail;
	lines_free(&conf);
	lines_free(&rev);
	return 0;
fail:
	lines_free(&conf);
	lines_free(&rev);
	return -1;
}

/* --- dma --------------------------------------------------------------- */

struct dma {
	char		*smarthost, *port, *aliases, *authpath, *certfile;
	char		*mailname, *masquerade, *fingerprint;
	int		 securetransfer, starttls, opportunistic, insecure;
	int		 nullclient;
};

/* "AB12..." (64 hex digits) as "AB:12:...". */
static int
dma_fpr(const char *v, char *out, size_t size)
{
	size_t	i, n = 0;

	if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64 ||
	    size < 96)
		return -1;
	for (i = 0; i < 64; i += 2) {
		if (i > 0)
			out[n++] = ':';
		out[n++] = (char)toupper((unsigned char)v[i]);
		out[n++] = (char)toupper((unsigned char)v[i + 1]);
	}
	out[n] = '\0';
	return 0;
}

/* Whether word is one of dma.conf's keywords without a value. */
static int
dma_flag(const char *word)
{
	static const char *const flags[] = { "SECURETRANSFER", "STARTTLS",
	    "OPPORTUNISTIC_TLS", "INSECURE", "NULLCLIENT", "DEFER",
	    "FULLBOUNCE" };
	size_t	i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(word, flags[i]) == 0)
			return 1;
	return 0;
}

/* dma.conf: "KEYWORD [value]", "#" anywhere starts a comment. */
static int
dma_conf(struct imp *im, struct lines *l, struct dma *d, struct err *e)
{
	static const struct {
		const char	*word;
		size_t		 off;	/* the member its value goes to */
	} w[] = {
#define V(f)	offsetof(struct dma, f)
		{ "SMARTHOST", V(smarthost) },
		{ "PORT", V(port) },
		{ "ALIASES", V(aliases) },
		{ "AUTHPATH", V(authpath) },
		{ "CERTFILE", V(certfile) },
		{ "MAILNAME", V(mailname) },
		{ "MASQUERADE", V(masquerade) },
		{ "FINGERPRINT", V(fingerprint) },
#undef V
	};
	char		*line, *word, *val, fpr[128];
	size_t		 i, k;
	unsigned int	 port;

	for (i = 0; i < l->n; i++) {
		line = l->v[i];
		line[strcspn(line, "#")] = '\0';
		if (*(line = trim(line)) == '\0')
			continue;
		word = line;
		val = line + strcspn(line, " \t");
		if (*val != '\0')
			*val++ = '\0';
		val = trim(val);
		for (k = 0; k < sizeof(w) / sizeof(w[0]); k++)
			if (strcmp(word, w[k].word) == 0)
				break;
		if (k < sizeof(w) / sizeof(w[0]) && *val != '\0') {
			*(char **)(void *)((char *)d + w[k].off) = val;
			if (strcmp(word, "PORT") == 0 &&
			    port_of(val, &port, l, i, e) == -1)
				return -1;
			if (strcmp(word, "FINGERPRINT") == 0 &&
			    dma_fpr(val, fpr, sizeof(fpr)) == -1)
				return err_set(e, ERR_DATA, "%s:%zu: FINGERPRINT "
				    "%s: expected 64 hex digits", l->path,
				    i + 1, val);
			continue;
		}
		if (*val == '\0' && strcmp(word, "SECURETRANSFER") == 0)
			d->securetransfer = 1;
		else if (*val == '\0' && strcmp(word, "STARTTLS") == 0)
			d->starttls = 1;
		else if (*val == '\0' && strcmp(word, "OPPORTUNISTIC_TLS") == 0)
			d->opportunistic = 1;
		else if (*val == '\0' && strcmp(word, "INSECURE") == 0)
			d->insecure = 1;
		else if (*val == '\0' && strcmp(word, "NULLCLIENT") == 0)
			d->nullclient = 1;
		else if (*val == '\0' && strcmp(word, "DEFER") == 0)
			note(im, "DEFER: dma only queued; postern tries at "
			    "once (postern -odq only queues).");
		else if (*val == '\0' && strcmp(word, "FULLBOUNCE") == 0)
			note(im, "FULLBOUNCE: postern's bounces quote the "
			    "headers only.");
		else if (strcmp(word, "SPOOLDIR") == 0 && *val != '\0')
			note(im, "SPOOLDIR %s: postern keeps its own queue; "
			    "run dma -q until dma's is empty.", val);
		else if (k < sizeof(w) / sizeof(w[0]))
			return err_set(e, ERR_DATA, "%s:%zu: %s needs a "
			    "value", l->path, i + 1, word);
		else if (dma_flag(word))
			return err_set(e, ERR_DATA, "%s:%zu: %s takes no "
			    "value", l->path, i + 1, word);
		else
			return err_set(e, ERR_DATA, "%s:%zu: %s: not a "
			    "dma.conf setting", l->path, i + 1, word);
	}
	return 0;
}

/* auth.conf: "login|host:password"; the line for the smarthost counts. */
static int
dma_auth(struct imp *im, struct lines *l, const char *host, struct target *t,
    struct err *e)
{
	char	*line, *login, *h;
	size_t	 i;

	for (i = 0; i < l->n; i++) {
		line = l->v[i];
		if (*line == '#' || *line == '\0')
			continue;
		login = strsep(&line, "|");
		h = strsep(&line, ": \t");
		if (line == NULL || h == NULL)
			return err_set(e, ERR_DATA, "%s:%zu: expected "
			    "login|host:password", l->path, i + 1);
		if (host == NULL || strcmp(h, host) != 0) {
			note(im, "%s line %zu: a login for %s, not the "
			    "smarthost: dma did not use it.", l->path, i + 1,
			    h);
			continue;
		}
		if (t->auth)
			continue;	/* dma takes the first one */
		t->auth = AUTH_ON;
		t->user = login;
		t->password = line;
	}
	return 0;
}

/* MAILNAME: a name, or a file whose first line is one. */
static void
dma_mailname(struct imp *im, const char *v, struct target *t)
{
	struct lines	l;
	struct err	e;

	if (*v != '/') {
		t->domain = t->maildomain = v;
		return;
	}
	if (strcmp(v, "/etc/mailname") == 0) {
		note(im, "MAILNAME /etc/mailname: postern reads it too.");
		return;
	}
	if (lines_read(&l, v, 0, &e) == 0 && l.n > 0 && *trim(l.v[0]) !=
	    '\0') {
		note(im, "MAILNAME %s held this name:", v);
		kv(im, "maildomain", trim(l.v[0]));
		kv(im, "domain", trim(l.v[0]));
	} else
		note(im, "MAILNAME %s could not be read: set maildomain and "
		    "domain to the name it holds.", v);
	if (l.v != NULL)
		lines_free(&l);
}

static void
dma_masquerade(struct imp *im, char *v, struct target *t)
{
	char	*at = strrchr(v, '@');

	note(im, "MASQUERADE %s: dma sent mail without -f from %s%s%s; so "
	    "does this.", v, at == NULL ? "login@" : "", v, at != NULL &&
	    at[1] == '\0' ? "maildomain" : "");
	if (at == NULL) {
		t->maildomain = v;
		return;
	}
	if (at[1] == '\0') {
		*at = '\0';
		t->from = v;
	} else if (at == v)
		t->maildomain = v + 1;
	else
		t->from = v;
}

static int
imp_dma(struct imp *im, char **files, int nfiles, struct err *e)
{
	struct lines	 conf, auth;
	struct target	 t;
	struct dma	 d;
	char		 fpr[128];
	const char	*authpath;
	int		 rc = 1;

	if (nfiles > 2)
		return err_set(e, ERR_USAGE, "--import dma takes dma.conf "
		    "and auth.conf, not %d files", nfiles);
	memset(&d, 0, sizeof(d));
	memset(&auth, 0, sizeof(auth));
	if (lines_read(&conf, nfiles > 0 ? files[0] : "/etc/dma/dma.conf", 0,
	    e) == -1)
		return -1;
	target_init(&t);
	put(&im->body, "account default\n");
	if (dma_conf(im, &conf, &d, e) == -1)
		goto fail;
	/* dma reads auth.conf only when AUTHPATH names it. */
	authpath = nfiles > 1 ? files[1] : d.authpath;
	if (authpath != NULL && (rc = lines_read(&auth, authpath, 0, e)) ==
	    -1)
		goto fail;
	put(&im->head, "# imported from dma: %s%s%s\n", conf.path,
	    rc == 0 ? ", " : "", rc == 0 ? authpath : "");
	if (d.smarthost == NULL) {
		err_set(e, ERR_DATA, "%s: no SMARTHOST: dma delivered to each "
		    "recipient's mail exchanger itself, which postern never "
		    "does; name the smarthost first", conf.path);
		goto fail;
	}
	t.host = d.smarthost;
	t.port = 25;
	if (d.port != NULL)
		t.port = (unsigned int)strtonum(d.port, 1, 65535, NULL);
	t.tls = d.securetransfer;
	t.starttls = d.securetransfer && d.starttls;
	if (d.starttls && !d.securetransfer)
		note(im, "STARTTLS without SECURETRANSFER: dma did not use "
		    "TLS.");
	if (d.opportunistic && t.starttls)
		note(im, "OPPORTUNISTIC_TLS: dma went on in clear when "
		    "STARTTLS failed; postern never does.");
	if (t.tls && d.fingerprint == NULL)
		note(im, "dma did not check the server's certificate; "
		    "postern does (tls_fingerprint pins one instead).");
	if (d.fingerprint != NULL &&
	    dma_fpr(d.fingerprint, fpr, sizeof(fpr)) == 0)
		t.fpr = fpr;
	if (d.certfile != NULL)
		t.cert = d.certfile;
	if (rc == 0 && dma_auth(im, &auth, d.smarthost, &t, e) == -1)
		goto fail;
	if (d.insecure)
		note(im, "INSECURE: dma would log in without TLS; postern "
		    "never does.");
	if (d.mailname != NULL)
		dma_mailname(im, d.mailname, &t);
	if (d.masquerade != NULL)
		dma_masquerade(im, d.masquerade, &t);
	if (d.nullclient)
		note(im, "NULLCLIENT: dma sent all mail to the smarthost, as "
		    "postern always does.");
	else
		note(im, "dma delivered mail for local users into their "
		    "mailboxes; postern never delivers locally: a bare local "
		    "name goes to the smarthost as name@maildomain, after "
		    "the aliases below.");
	t.aliases = d.aliases != NULL ? d.aliases : "/etc/aliases";
	emit(im, &t);
	emit_id(im, &t);
	lines_free(&conf);
	lines_free(&auth);
	return 0;
fail:
	lines_free(&conf);
	lines_free(&auth);
	return -1;
}

/* --- nullmailer ------------------------------------------------------- */

static const char *const nm_files[] = {
	"remotes", "adminaddr", "defaultdomain", "defaulthost", "me",
	"allmailfrom", "helohost"
};
#define NM_NFILES	(sizeof(nm_files) / sizeof(nm_files[0]))

/*
 * One line of remotes: "host [protocol] [option...]", the options those
 * of the protocol module, "--" optional.
 */
static int
nm_remote(struct imp *im, char *line, const struct lines *l, size_t i,
    struct target *t, struct err *e)
{
	char		*w, *opt, *val;
	const char	*proto = "smtp";

	target_init(t);
	t->host = strsep(&line, " \t");
	if (line != NULL && *(line += strspn(line, " \t")) != '\0' &&
	    *line != '-' && line[strcspn(line, " \t=")] != '=')
		proto = strsep(&line, " \t");
	if (strcmp(proto, "smtp") != 0) {
		note(im, "remotes line %zu: %s over %s: postern speaks SMTP "
		    "only; this remote is left out.", i + 1, t->host, proto);
		t->host = NULL;
		return 0;
	}
	while (line != NULL && (w = strsep(&line, " \t")) != NULL) {
		if (*w == '\0')
			continue;
		opt = w + (strncmp(w, "--", 2) == 0 ? 2 : 0);
		if ((val = strchr(opt, '=')) != NULL)
			*val++ = '\0';
		if (strcmp(opt, "port") == 0 && val != NULL) {
			if (port_of(val, &t->port, l, i, e) == -1)
				return -1;
		} else if (strcmp(opt, "user") == 0 && val != NULL) {
			t->user = val;
			if (t->auth == 0)
				t->auth = AUTH_ON;
		} else if (strcmp(opt, "pass") == 0 && val != NULL)
			t->password = val;
		else if (strcmp(opt, "auth-login") == 0 && val == NULL)
			t->auth = AUTH_LOGIN;
		else if ((strcmp(opt, "ssl") == 0 || strcmp(opt, "tls") ==
		    0) && val == NULL)
			t->tls = 1;
		else if (strcmp(opt, "starttls") == 0 && val == NULL)
			t->tls = t->starttls = 1;
		else if (strcmp(opt, "x509certfile") == 0 && val != NULL)
			t->cert = val;
		else if (strcmp(opt, "x509keyfile") == 0 && val != NULL)
			t->key = val;
		else if (strcmp(opt, "x509cafile") == 0 && val != NULL)
			t->trust = val;
		else if (strcmp(opt, "source") == 0 && val != NULL)
			t->source = val;
		else if (strcmp(opt, "insecure") == 0 && val == NULL) {
			note(im, "remotes line %zu: --insecure: nullmailer "
			    "did not check %s's certificate; neither does "
			    "this (pin it with tls_fingerprint instead).",
			    i + 1, t->host);
			t->certcheck = 0;
		} else if ((strcmp(opt, "x509crlfile") == 0 && val != NULL) ||
		    ((strcmp(opt, "x509fmtder") == 0 ||
		    strcmp(opt, "tls-anon-auth") == 0) && val == NULL))
			note(im, "remotes line %zu: --%s: no equivalent%s.",
			    i + 1, opt, strcmp(opt, "x509fmtder") == 0 ?
			    " (convert the files to PEM)" : "");
		else
			return err_set(e, ERR_DATA, "%s:%zu: %s: not a "
			    "nullmailer smtp option", l->path, i + 1, w);
	}
	if (t->auth == AUTH_LOGIN && t->user == NULL)
		t->auth = 0;
	if (t->port == 0)
		t->port = t->tls && !t->starttls ? 465 : 25;
	return 0;
}

static int
same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The same settings but the host: one account's failover list. */
static int
nm_alike(const struct target *a, const struct target *b)
{
	return a->port == b->port && a->tls == b->tls &&
	    a->starttls == b->starttls && a->certcheck == b->certcheck &&
	    a->auth == b->auth && same(a->user, b->user) &&
	    same(a->password, b->password) && same(a->trust, b->trust) &&
	    same(a->cert, b->cert) && same(a->key, b->key) &&
	    same(a->source, b->source);
}

/* The first line of a control file, trimmed; NULL when empty. */
static char *
nm_value(struct lines *l)
{
	size_t	i;
	char	*v;

	for (i = 0; i < l->n; i++)
		if (*(v = trim(l->v[i])) != '\0' && *v != '#')
			return v;
	return NULL;
}

static int
nm_files_read(struct lines *f, char **files, int nfiles, struct err *e)
{
	char		 path[4096];
	const char	*dir = "/etc/nullmailer", *base;
	size_t		 k;
	int		 i, rc;
	struct stat	 st;

	if (nfiles == 1 && stat(files[0], &st) == 0 && S_ISDIR(st.st_mode))
		dir = files[0];
	else if (nfiles > 0) {
		for (i = 0; i < nfiles; i++) {
			base = strrchr(files[i], '/') != NULL ?
			    strrchr(files[i], '/') + 1 : files[i];
			for (k = 0; k < NM_NFILES; k++)
				if (strcmp(base, nm_files[k]) == 0)
					break;
			if (k == NM_NFILES)
				return err_set(e, ERR_USAGE, "%s: not a "
				    "nullmailer control file (remotes, me, "
				    "defaulthost, defaultdomain, adminaddr, "
				    "allmailfrom, helohost)", files[i]);
			if (f[k].path != NULL)
				return err_set(e, ERR_USAGE, "%s: a second %s "
				    "file", files[i], nm_files[k]);
			if (lines_read(&f[k], xstrdup(files[i]), 0, e) == -1)
				return -1;
		}
		if (f[0].path == NULL)
			return err_set(e, ERR_USAGE, "--import nullmailer "
			    "needs the remotes file");
		return 0;
	}
	for (k = 0; k < NM_NFILES; k++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, nm_files[k]);
		if ((rc = lines_read(&f[k], xstrdup(path), k > 0, e)) == -1)
			return -1;
		if (rc == 1) {
			free((char *)f[k].path);
			f[k].path = NULL;
		}
	}
	return 0;
}

static void
nm_identity(struct imp *im, struct lines *f, struct target *t)
{
	char		*me = nm_value(&f[4]), *dd = nm_value(&f[2]);
	char		*dh = nm_value(&f[3]), *helo = nm_value(&f[6]);
	char		*admin = nm_value(&f[1]), *all = nm_value(&f[5]);
	static char	 fq[3][512];
	char		*v[3];
	size_t		 i;

	/* defaultdomain completes every name without a dot. */
	v[0] = me;
	v[1] = dh;
	v[2] = helo;
	for (i = 0; i < 3; i++)
		if (v[i] != NULL && dd != NULL && strchr(v[i], '.') == NULL &&
		    strcmp(v[i], "localhost") != 0) {
			(void)snprintf(fq[i], sizeof(fq[i]), "%s.%s", v[i], dd);
			v[i] = fq[i];
		}
	me = v[0];
	t->domain = v[2] != NULL ? v[2] : me;
	t->maildomain = v[1] != NULL ? v[1] : me;
	if (t->maildomain == NULL && dd != NULL)
		note(im, "defaultdomain %s: it completed host names without "
		    "a dot; postern qualifies bare names with maildomain "
		    "(/etc/mailname, else the host's name).", dd);
	if (all != NULL) {
		note(im, "allmailfrom: nullmailer sent every message from "
		    "%s; so does this.", all);
		t->from = all;
		t->fixfrom = 1;
	}
	if (admin != NULL) {
		note(im, "adminaddr: nullmailer sent mail for local users "
		    "(name, name@localhost, name@%s) to %s.  postern does "
		    "that for bare local names through the aliases: put this "
		    "line into /etc/aliases,", me != NULL ? me : "me", admin);
		put(&im->body, "#   default: %s\n", admin);
		note(im, "and uncomment:");
		put(&im->body, "#aliases /etc/aliases\n");
	}
}

static int
imp_nullmailer(struct imp *im, char **files, int nfiles, struct err *e)
{
	struct lines	 f[NM_NFILES];
	struct target	*r = NULL, id;
	struct strbuf	 hosts;
	size_t		 i, k, n = 0, alike;
	char		*line, name[32];
	int		 rc = -1;

	memset(f, 0, sizeof(f));
	memset(&hosts, 0, sizeof(hosts));
	if (nm_files_read(f, files, nfiles, e) == -1)
		goto out;
	put(&im->head, "# imported from nullmailer: %s", f[0].path);
	for (k = 1; k < NM_NFILES; k++)
		if (f[k].path != NULL)
			put(&im->head, ", %s", f[k].path);
	put(&im->head, "\n");
	put(&im->body, "account default\n");
	r = xcalloc(f[0].n + 1, sizeof(*r));
	for (i = 0; i < f[0].n; i++) {
		line = trim(f[0].v[i]);
		if (*line == '\0' || *line == '#')
			continue;
		if (nm_remote(im, line, &f[0], i, &r[n], e) == -1)
			goto out;
		if (r[n].host != NULL)
			n++;
	}
	target_init(&id);
	nm_identity(im, f, &id);
	if (n == 0) {
		err_set(e, ERR_DATA, "%s: no SMTP remote: postern hands all "
		    "mail to an SMTP smarthost", f[0].path);
		goto out;
	}
	for (alike = 1; alike < n && nm_alike(&r[0], &r[alike]); alike++)
		continue;
	if (alike == n && n > 1) {
		/* Every remote alike: one list, tried in turn. */
		note(im, "the remotes, tried in turn as nullmailer did:");
		for (i = 0; i < n; i++) {
			if (i > 0)
				util_stradds(&hosts, " ");
			util_stradds(&hosts, r[i].host);
		}
		r[0].host = hosts.s;
	}
	if (n > 0)
		emit(im, &r[0]);
	emit_id(im, &id);
	for (i = 1; alike < n && i < n; i++) {
		(void)snprintf(name, sizeof(name), "remote%zu", i + 1);
		put(&im->body, "\n");
		note(im, "nullmailer tried %s when the remotes above it "
		    "failed.  postern fails over between the hosts of one "
		    "account, which share every other setting; these differ, "
		    "so this is an account of its own, used with -a %s.",
		    r[i].host, name);
		put(&im->body, "account %s\n", name);
		emit(im, &r[i]);
		emit_id(im, &id);
	}
	rc = 0;
out:
	for (k = 0; k < NM_NFILES; k++) {
		free((char *)f[k].path);
		lines_free(&f[k]);
	}
	free(hosts.s);
	free(r);
	return rc;
}

/* --- msmtp ------------------------------------------------------------- */

/*
 * The lines as the parser takes them, after the account lines seen so
 * far (skel): NULL, or why not (the parser's message without its
 * "file:line: ").
 */
static const char *
msmtp_refused(const struct strbuf *skel, const char *line, struct err *e)
{
	struct conf	 c;
	FILE		*fp;
	char		*text, *p;
	size_t		 n;
	int		 rc;

	n = xasprintf(&text, "%s%s\n", skel->s != NULL ? skel->s : "", line);
	if ((fp = fmemopen(text, n, "r")) == NULL) {
		freezero(text, n);
		err_set(e, ERR_OS, "fmemopen: %s", strerror(errno));
		return e->msg;
	}
	rc = conf_parse(&c, "msmtprc", fp, e);
	fclose(fp);
	freezero(text, n);
	if (rc == -1) {
		p = e->msg;
		if (strncmp(p, "msmtprc:", 8) == 0 && isdigit((unsigned
		    char)p[8]) && (p = strstr(p, ": ")) != NULL)
			return p + 2;
		return e->msg;
	}
	conf_free(&c);
	return NULL;
}

/*
 * An msmtprc is postern's own syntax: copied line by line, with msmtp's
 * "tls off" default written first, and each line postern refuses turned
 * into a comment that says why.
 */
static int
imp_msmtp(struct imp *im, char **files, int nfiles, struct err *e)
{
	struct lines	 l;
	struct err	 why;
	struct strbuf	 skel;
	struct stat	 st;
	char		*home = getenv("HOME"), *path = NULL, *p;
	const char	*refused;
	size_t		 i, n;

	if (nfiles > 1)
		return err_set(e, ERR_USAGE, "--import msmtp takes one file, "
		    "not %d", nfiles);
	if (nfiles == 0 && home != NULL && *home != '\0') {
		xasprintf(&path, "%s/.msmtprc", home);
		if (stat(path, &st) == -1) {
			free(path);
			path = NULL;
		}
	}
	if (path == NULL)
		path = xstrdup(nfiles > 0 ? files[0] : "/etc/msmtprc");
	if (lines_read(&l, path, 0, e) == -1) {
		free(path);
		return -1;
	}
	put(&im->head, "# imported from msmtp: %s\n", path);
	note(im, "msmtp's default is tls off, postern's tls on: this keeps "
	    "msmtp's, where the file does not say.");
	put(&im->body, "defaults\ntls off\n\n");
	memset(&skel, 0, sizeof(skel));
	util_stradds(&skel, "defaults\n");
	for (i = 0; i < l.n; i++) {
		p = trim(l.v[i]);
		n = strcspn(p, " \t");
		if (*p == '\0' || *p == '#') {
			put(&im->body, "%s\n", l.v[i]);
			continue;
		}
		/* A section: it must fit with those before it. */
		if ((n == 7 && strncmp(p, "account", 7) == 0) || (n == 8 &&
		    strncmp(p, "defaults", 8) == 0)) {
			if ((refused = msmtp_refused(&skel, p, &why)) != NULL) {
				err_set(e, ERR_DATA, "%s:%zu: %s", path, i + 1,
				    refused);
				free(skel.s);
				lines_free(&l);
				free(path);
				return -1;
			}
			put(&skel, "%s\n", p);
			put(&im->body, "%s\n", l.v[i]);
			continue;
		}
		if ((refused = msmtp_refused(&skel, p, &why)) != NULL) {
			note(im, "line %zu: %s", i + 1, refused);
			put(&im->body, "#%s\n", l.v[i]);
			continue;
		}
		if (n == 8 && strncmp(p, "password", 8) == 0)
			im->secret = 1;
		put(&im->body, "%s\n", l.v[i]);
	}
	free(skel.s);
	lines_free(&l);
	free(path);
	return 0;
}

/* --- the command ------------------------------------------------------- */

static const struct {
	const char	*name;
	int		(*fn)(struct imp *, char **, int, struct err *);
} progs[] = {
	{ "ssmtp", imp_ssmtp },
	{ "dma", imp_dma },
	{ "nullmailer", imp_nullmailer },
	{ "msmtp", imp_msmtp },
};

/* The output must load: the parser reads it back before it is printed. */
static int
loads(const struct strbuf *b, struct err *e)
{
	struct conf	 c;
	FILE		*fp;
	int		 rc;

	if ((fp = fmemopen(b->s, b->len, "r")) == NULL)
		return err_set(e, ERR_OS, "fmemopen: %s", strerror(errno));
	rc = conf_parse(&c, "the imported configuration", fp, e);
	fclose(fp);
	if (rc == -1) {
		e->cls = ERR_SOFTWARE;
		return -1;
	}
	conf_free(&c);
	return 0;
}

int
import_run(const char *prog, char **files, int nfiles, FILE *out,
    struct err *e)
{
	struct imp	 im;
	size_t		 i;
	int		 rc = -1;

	memset(&im, 0, sizeof(im));
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (strcmp(prog, progs[i].name) == 0)
			break;
	if (i == sizeof(progs) / sizeof(progs[0]))
		return err_set(e, ERR_USAGE, "--import %s: expected ssmtp, "
		    "dma, nullmailer or msmtp", prog);
	im.prog = prog;
	if (progs[i].fn(&im, files, nfiles, e) == -1)
		goto out;
	put(&im.head, "# by postern --import %s; check it with\n"
	    "# postern --check -C FILE.\n", prog);
	if (im.secret)
		put(&im.head, "# It holds a password: keep it mode 0600 "
		    "(chmod 600 FILE),\n# or root:postern 0640 as the "
		    "system file.\n");
	util_stradds(&im.head, "\n");
	if (im.body.len > 0)
		util_stradd(&im.head, im.body.s, im.body.len);
	if (loads(&im.head, e) == -1)
		goto out;
	if (fwrite(im.head.s, 1, im.head.len, out) != im.head.len ||
	    fflush(out) == EOF) {
		err_set(e, ERR_IO, "standard output: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (im.head.s != NULL)
		freezero(im.head.s, im.head.cap);
	if (im.body.s != NULL)
		freezero(im.body.s, im.body.cap);
	return rc;
}
