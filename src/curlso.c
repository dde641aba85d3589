/*
 * libcurl, loaded with dlopen(3) the first time OAuth2 makes an HTTPS
 * request (a token refresh, postern --authorize), not linked: libcurl
 * brings some thirty libraries (GnuTLS, Kerberos, LDAP, SSH, HTTP/2 ...)
 * whose mapping and relocation every sendmail run would pay for, though
 * most never refresh a token.  systemd loads its optional libraries the
 * same way.  json-c, one small library without dependencies, stays
 * linked.
 *
 * The name is the SONAME of the libcurl that configure found
 * (CURL_SONAME), never a path: the dynamic loader looks it up in the
 * system's library directories.  The setgid install runs with AT_SECURE,
 * for which glibc ignores LD_LIBRARY_PATH and LD_PRELOAD, so a caller
 * cannot substitute a library of its own; nothing here takes a path from
 * the environment or the configuration either.  A missing library, or
 * one without HTTPS or older than the headers postern was built with, is
 * a configuration error naming the package to install.
 */
#include "config.h"

#if HAVE_OAUTH2

#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

#include "extern.h"
#include "curlso.h"

struct curlso	curlso;

static const struct sym {
	const char	*name;
	size_t		 off;
} syms[] = {
	{ "curl_global_init", offsetof(struct curlso, global_init) },
	{ "curl_easy_init", offsetof(struct curlso, easy_init) },
	{ "curl_easy_setopt", offsetof(struct curlso, easy_setopt) },
	{ "curl_easy_perform", offsetof(struct curlso, easy_perform) },
	{ "curl_easy_getinfo", offsetof(struct curlso, easy_getinfo) },
	{ "curl_easy_cleanup", offsetof(struct curlso, easy_cleanup) },
	{ "curl_easy_strerror", offsetof(struct curlso, easy_strerror) },
	{ "curl_easy_escape", offsetof(struct curlso, easy_escape) },
	{ "curl_easy_unescape", offsetof(struct curlso, easy_unescape) },
	{ "curl_free", offsetof(struct curlso, free) },
	{ "curl_version_info", offsetof(struct curlso, version_info) },
};

#define CURLSO_WHAT	"oauth2: cannot load " CURL_SONAME " (Debian: " \
			"apt-get install " CURL_PACKAGE ")"

/* Does this libcurl do what oauth2.c asks of it? NULL, or why not. */
static const char *
unusable(const struct curlso *c)
{
	const curl_version_info_data	*v;
	const char *const		*p;

	v = c->version_info(CURLVERSION_NOW);
	if (v == NULL)
		return "it gives no version information";
	/* Options oauth2.c sets (CURLOPT_PROTOCOLS_STR) depend on it. */
	if (v->version_num < LIBCURL_VERSION_NUM)
		return "it is older than the " LIBCURL_VERSION " postern "
		    "was built with";
	if ((v->features & CURL_VERSION_SSL) == 0)
		return "it is built without TLS";
	for (p = v->protocols; p != NULL && *p != NULL; p++)
		if (strcmp(*p, "https") == 0)
			return NULL;
	return "it is built without HTTPS";
}

/*
 * Fill curlso, once.  A failure is reported every time asked, and the
 * next call tries again.
 */
int
curlso_load(struct err *e)
{
	static int	 loaded;
	struct curlso	 c;
	const char	*why;
	void		*h, *f;
	size_t		 i;

	if (loaded)
		return 0;
	if ((h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		return err_set(e, ERR_CONFIG, CURLSO_WHAT ": %s",
		    why != NULL ? why : "dlopen failed");
	}
	memset(&c, 0, sizeof(c));
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if ((f = dlsym(h, syms[i].name)) == NULL) {
			(void)dlclose(h);
			return err_set(e, ERR_CONFIG, CURLSO_WHAT ": it has "
			    "no %s", syms[i].name);
		}
		/* POSIX: a function's address fits in a void *. */
		memcpy((char *)&c + syms[i].off, &f, sizeof(f));
	}
	if ((why = unusable(&c)) != NULL) {
		(void)dlclose(h);
		return err_set(e, ERR_CONFIG, CURLSO_WHAT ": %s", why);
	}
	/* Kept open to the end: libcurl is never unloaded. */
	curlso = c;
	loaded = 1;
	log_debug("oauth2: loaded %s %s", CURL_SONAME,
	    c.version_info(CURLVERSION_NOW)->version);
	return 0;
}

#endif /* HAVE_OAUTH2 */
