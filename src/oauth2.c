/*
 * OAuth2 for XOAUTH2 and OAUTHBEARER: the access token that AUTH sends as
 * the password is refreshed here over HTTPS (RFC 6749 section 6), cached
 * in the token store with its expiry, and a rotated refresh token is
 * stored before the new access token is used.  postern --authorize gets
 * the first refresh token with the device authorization grant (RFC 8628)
 * or the authorization code grant with PKCE (RFC 7636), the redirected
 * URL pasted back: nothing listens on a port.
 *
 * This is the only user of libcurl and of json-c.  libcurl is loaded
 * (curlso.c) only when a flow here first needs it.  libcurl is told
 * everything the environment could otherwise tell it (proxy, trust store,
 * protocols) and the variables it would read are removed first, since a
 * setgid postern runs in its caller's environment.
 *
 * The token store, queue_dir/oauth2/ACCOUNT, is token.c's; its lock
 * makes refreshes one at a time, the others wait and take the result.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#if HAVE_OAUTH2
#include <json-c/json.h>
#include "curlso.h"	/* the curl_* calls below go through curlso */
#endif

/* Seconds an access token must still have for it to be used. */
#define OAUTH2_MARGIN	60
#define OAUTH2_MAXBODY	(64 * 1024)	/* a bigger response is refused */
/* The system trust store, given to libcurl explicitly (Debian's paths). */
#ifndef OAUTH2_CAFILE
#define OAUTH2_CAFILE	"/etc/ssl/certs/ca-certificates.crt"
#endif
#ifndef OAUTH2_CAPATH
#define OAUTH2_CAPATH	"/etc/ssl/certs"
#endif

int
oauth2_enabled(const struct account *a)
{
	return a->oauth2_provider != NULL;
}

static const struct preset {
	const char	*name;
	const char	*token, *device, *auth, *scope;
} presets[] = {
	{ "microsoft",
	    "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
	    "https://login.microsoftonline.com/%s/oauth2/v2.0/devicecode",
	    "https://login.microsoftonline.com/%s/oauth2/v2.0/authorize",
	    "https://outlook.office.com/SMTP.Send offline_access" },
	{ "google", "https://oauth2.googleapis.com/token", NULL,
	    "https://accounts.google.com/o/oauth2/v2/auth",
	    "https://mail.google.com/" },
	{ "custom", NULL, NULL, NULL, NULL },
};

/* A preset URL, %s standing for the tenant. */
static void
preset_url(char **dst, const char *fmt, const char *tenant)
{
	if (*dst != NULL || fmt == NULL)
		return;
	xasprintf(dst, fmt, tenant);
}

static int
url_ok(const struct account *a, const char *key, const char *url,
    struct err *e)
{
	if (url == NULL || strncasecmp(url, "https://", 8) == 0)
		return 0;
	return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': %s must be an "
	    "https:// URL", a->file, a->line, a->name, key);
}

/*
 * Check the OAuth2 keys of account a and fill in its provider's preset
 * (conf_load).  No file is read here.
 */
int
oauth2_conf(struct account *a, struct err *e)
{
	const struct preset	*p = NULL;
	const char		*tenant;
	size_t			 i;

	if (!oauth2_enabled(a)) {
		if (a->oauth2_client_id != NULL ||
		    a->oauth2_token_url != NULL ||
		    a->oauth2_refresh_token_file != NULL)
			return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
			    "oauth2 keys without oauth2_provider", a->file,
			    a->line, a->name);
		return 0;
	}
	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(presets[i].name, a->oauth2_provider) == 0)
			p = &presets[i];
	if (p == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "oauth2_provider '%s': microsoft, google or custom",
		    a->file, a->line, a->name, a->oauth2_provider);
	if (a->auth != AUTH_XOAUTH2 && a->auth != AUTH_OAUTHBEARER)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "oauth2_provider needs auth xoauth2 or auth oauthbearer",
		    a->file, a->line, a->name);
	if (a->password != NULL || a->passwordeval != NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': the "
		    "access token comes from OAuth2: no password or "
		    "passwordeval with oauth2_provider", a->file, a->line,
		    a->name);
	if (a->user == NULL || a->oauth2_client_id == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "oauth2_provider needs user and oauth2_client_id",
		    a->file, a->line, a->name);
	if (a->oauth2_client_secret != NULL &&
	    a->oauth2_client_secret_file != NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "oauth2_client_secret or oauth2_client_secret_file, not "
		    "both", a->file, a->line, a->name);
	if (strspn(a->name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(a->name) ||
	    a->name[0] == '.')
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': an "
		    "OAuth2 account name is a file name in the token store: "
		    "letters, digits, '.', '_' and '-' only", a->file,
		    a->line, a->name);
	tenant = a->oauth2_tenant != NULL ? a->oauth2_tenant : "common";
	if (strpbrk(tenant, "/?#%@ ") != NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "oauth2_tenant '%s' is not a tenant name or id", a->file,
		    a->line, a->name, tenant);
	preset_url(&a->oauth2_token_url, p->token, tenant);
	preset_url(&a->oauth2_device_url, p->device, tenant);
	preset_url(&a->oauth2_auth_url, p->auth, tenant);
	if (a->oauth2_scope == NULL && p->scope != NULL)
		a->oauth2_scope = xstrdup(p->scope);
	if (a->oauth2_token_url == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "oauth2_provider custom needs oauth2_token_url", a->file,
		    a->line, a->name);
	if (url_ok(a, "oauth2_token_url", a->oauth2_token_url, e) == -1 ||
	    url_ok(a, "oauth2_device_url", a->oauth2_device_url, e) == -1 ||
	    url_ok(a, "oauth2_auth_url", a->oauth2_auth_url, e) == -1)
		return -1;
	return 0;
}

#if !HAVE_OAUTH2

/* Built without OAuth2: conf.c refuses every oauth2_ key already. */
int
oauth2_token(struct account *a, enum oauth2_need need, struct err *e)
{
	(void)need;
	if (!oauth2_enabled(a))
		return 0;
	return err_set(e, ERR_CONFIG, "postern was built without OAuth2");
}

int
oauth2_refused(const unsigned char *in, size_t len)
{
	(void)in;
	(void)len;
	return 0;
}

int
oauth2_authorize(struct account *a, int system, FILE *in, FILE *out,
    struct err *e)
{
	(void)a;
	(void)system;
	(void)in;
	(void)out;
	return err_set(e, ERR_CONFIG, "postern was built without OAuth2 "
	    "(libcurl and json-c; ./configure OAUTH2=1)");
}

#else

/* --- HTTPS ------------------------------------------------------------ */

/* The response of one request. */
struct http {
	long		 status;
	struct strbuf	 body;
	int		 toobig;
};

static size_t
http_body(char *p, size_t size, size_t n, void *arg)
{
	struct http	*h = arg;

	if (h->body.len + size * n > OAUTH2_MAXBODY) {
		h->toobig = 1;
		return 0;
	}
	util_stradd(&h->body, p, size * n);
	return size * n;
}

static void
http_free(struct http *h)
{
	if (h->body.s != NULL)
		freezero(h->body.s, h->body.cap);
	memset(h, 0, sizeof(*h));
}

/*
 * What libcurl would take from the environment instead of from us: the
 * proxies, the trust store, a file for the TLS session keys.
 */
static void
curl_env(void)
{
	static const char *const vars[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
		"CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
		"SSLKEYLOGFILE", "CURL_SSL_BACKEND", "CURL_HOME",
		"CURL_SSLKEYLOGFILE"
	};
	static int	 done;
	size_t		 i;

	if (done++)
		return;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		(void)unsetenv(vars[i]);
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Keys whose values are secrets, in forms and in JSON. */
static int
secret_key(const char *k, size_t len)
{
	static const char *const keys[] = {
		"access_token", "refresh_token", "id_token", "device_code",
		"code", "client_secret", "code_verifier"
	};
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == len && strncmp(keys[i], k, len) == 0)
			return 1;
	return 0;
}

/* A form body for -v, every secret value <redacted>. */
static void
show_form(const char *form)
{
	struct strbuf	 out;
	const char	*p = form != NULL ? form : "";
	size_t		 n, k;

	memset(&out, 0, sizeof(out));
	while (*p != '\0') {
		n = strcspn(p, "&");
		k = strcspn(p, "=");
		if (k < n && secret_key(p, k)) {
			util_stradd(&out, p, k);
			util_stradds(&out, "=<redacted>");
		} else
			util_stradd(&out, p, n);
		p += n;
		if (*p == '&')
			util_stradd(&out, p++, 1);
	}
	log_debug("oauth2: > %s", out.s != NULL ? out.s : "");
	free(out.s);
}

/* Wipe the string values of a JSON object, then free it. */
static void
json_wipe(struct json_object *o)
{
	if (o == NULL)
		return;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			if (json_object_is_type(v, json_type_string))
				explicit_bzero((char *)(uintptr_t)
				    json_object_get_string(v),
				    (size_t)json_object_get_string_len(v));
		}
	}
	json_object_put(o);
}

/* The response for -v: JSON with every secret <redacted>, else its size. */
static void
show_response(const struct http *h, struct json_object *o)
{
	struct json_object	*c;

	if (!log_verbose())
		return;
	if (o == NULL) {
		log_debug("oauth2: < HTTP %ld, %zu bytes that are not a JSON "
		    "object", h->status, h->body.len);
		return;
	}
	c = json_object_new_object();
	json_object_object_foreach(o, k, v) {
		if (secret_key(k, strlen(k)))
			json_object_object_add(c, k,
			    json_object_new_string("<redacted>"));
		else
			json_object_object_add(c, k, json_object_get(v));
	}
	log_debug("oauth2: < HTTP %ld %s", h->status,
	    json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN));
	json_object_put(c);
}

/* The body as a JSON object, or NULL. */
static struct json_object *
parse_json(const struct http *h)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if (h->body.len == 0 || h->body.len > INT_MAX)
		return NULL;
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, h->body.s, (int)h->body.len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object) ||
	    json_tokener_get_parse_end(tok) + strspn(h->body.s +
	    json_tokener_get_parse_end(tok), " \t\r\n") != h->body.len)) {
		json_wipe(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/*
 * POST form to url over verified HTTPS.  A failure to reach the
 * endpoint, or its certificate, is temporary (ERR_TEMP), as TLS failures
 * of the smarthost are queued.
 */
static int
http_post(const struct account *a, const char *url, const char *form,
    struct http *h, struct err *e)
{
	CURL		*c;
	CURLcode	 rc;
	char		 ebuf[CURL_ERROR_SIZE] = "";

	memset(h, 0, sizeof(*h));
	curl_env();
	if ((c = curl_easy_init()) == NULL)
		return err_set(e, ERR_SOFTWARE, "oauth2: curl_easy_init");
	log_debug("oauth2: POST %s", url);
	if (log_verbose())
		show_form(form);
	(void)curl_easy_setopt(c, CURLOPT_URL, url);
	(void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	(void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	(void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	(void)curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	(void)curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
	(void)curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
	    (long)CURLPROTO_HTTPS);
#endif
	(void)curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(c, CURLOPT_PROXY, a->oauth2_proxy != NULL ?
	    a->oauth2_proxy : "");
	(void)curl_easy_setopt(c, CURLOPT_NOPROXY, "");
	(void)curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	(void)curl_easy_setopt(c, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2);
	(void)curl_easy_setopt(c, CURLOPT_CAINFO, a->oauth2_trust_file !=
	    NULL ? a->oauth2_trust_file : OAUTH2_CAFILE);
	(void)curl_easy_setopt(c, CURLOPT_CAPATH, a->oauth2_trust_file !=
	    NULL ? NULL : OAUTH2_CAPATH);
	(void)curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	(void)curl_easy_setopt(c, CURLOPT_USERAGENT, "postern/" VERSION);
	(void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (a->timeout > 0)
		(void)curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)a->timeout);
	(void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body);
	(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	rc = curl_easy_perform(c);
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_easy_cleanup(c);
	if (rc == CURLE_OK)
		return 0;
	if (h->toobig)
		return err_set(e, ERR_TEMP, "oauth2: %s: HTTP %ld: the "
		    "response is longer than %d bytes", url, h->status,
		    OAUTH2_MAXBODY);
	return err_set(e, ERR_TEMP, "oauth2: %s: %s%s", url,
	    rc == CURLE_PEER_FAILED_VERIFICATION ?
	    "the certificate failed verification, nothing was sent: " : "",
	    ebuf[0] != '\0' ? ebuf : curl_easy_strerror(rc));
}

/* Append "&key=value", the value URL-encoded. */
static void
form_add(struct strbuf *f, const char *key, const char *val)
{
	char	*enc;

	if (val == NULL)
		return;
	enc = curl_easy_escape(NULL, val, 0);
	if (f->len > 0)
		util_stradds(f, "&");
	util_stradds(f, key);
	util_stradds(f, "=");
	util_stradds(f, enc);
	explicit_bzero(enc, strlen(enc));
	curl_free(enc);
}

static void
form_free(struct strbuf *f)
{
	if (f->s != NULL)
		freezero(f->s, f->cap);
	memset(f, 0, sizeof(*f));
}

/* The client secret: the key, or the first line of its file. */
static int
client_secret(const struct account *a, char **out, struct err *e)
{
	struct tokens	t;
	int		rc;

	*out = NULL;
	if (a->oauth2_client_secret != NULL) {
		*out = xstrdup(a->oauth2_client_secret);
		return 0;
	}
	if (a->oauth2_client_secret_file == NULL)
		return 0;
	rc = token_read(a->oauth2_client_secret_file, 1, &t, e);
	if (rc == 1)
		return err_set(e, ERR_CONFIG, "oauth2: %s: "
		    "oauth2_client_secret_file: %s", a->oauth2_client_secret_file,
		    strerror(ENOENT));
	if (rc == -1)
		return -1;
	*out = t.refresh;
	return 0;
}

/* A string member of a JSON object, or NULL. */
static const char *
json_str(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A printable copy of a server's text, for an error message. */
static void
server_text(char *buf, size_t size, const char *s)
{
	if (s == NULL)
		s = "";
	log_escape(buf, size, s, strlen(s) > 200 ? 200 : strlen(s));
}

/*
 * POST a grant to the token endpoint.  On 0, t holds the new access
 * token, its expiry and the refresh token if the response has one.  An
 * error response: *errcode (if asked) gets the OAuth2 error code, and
 * the class is ERR_NOPERM for the grant refused.
 */
static int
token_request(const struct account *a, struct strbuf *form,
    struct tokens *t, char *errcode, size_t errsize, struct err *e)
{
	struct http		 h;
	struct json_object	*o;
	const char		*at, *rt, *err;
	char			*secret, desc[256], code[64];
	long long		 exp = 3600;
	struct json_object	*v;
	int			 rc = -1;

	memset(t, 0, sizeof(*t));
	if (errcode != NULL)
		errcode[0] = '\0';
	if (client_secret(a, &secret, e) == -1)
		return -1;
	form_add(form, "client_id", a->oauth2_client_id);
	form_add(form, "client_secret", secret);
	if (secret != NULL)
		freezero(secret, strlen(secret));
	if (http_post(a, a->oauth2_token_url, form->s, &h, e) == -1) {
		http_free(&h);
		return -1;
	}
	o = parse_json(&h);
	show_response(&h, o);
	if (o == NULL) {
		err_set(e, ERR_TEMP, "oauth2: %s: HTTP %ld: malformed "
		    "response (not a JSON object)", a->oauth2_token_url,
		    h.status);
		goto out;
	}
	if ((err = json_str(o, "error")) != NULL || h.status != 200) {
		server_text(code, sizeof(code), err != NULL ? err : "");
		server_text(desc, sizeof(desc), json_str(o,
		    "error_description"));
		if (errcode != NULL)
			(void)strlcpy(errcode, code, errsize);
		err_set(e, h.status >= 500 || h.status == 429 ? ERR_TEMP :
		    ERR_NOPERM, "oauth2: %s: HTTP %ld: %s%s%s",
		    a->oauth2_token_url, h.status, code[0] != '\0' ? code :
		    "error", desc[0] != '\0' ? ": " : "", desc);
		goto out;
	}
	at = json_str(o, "access_token");
	rt = json_str(o, "refresh_token");
	if (json_object_object_get_ex(o, "expires_in", &v)) {
		errno = 0;
		exp = json_object_get_int64(v);
		if (exp <= 0 || exp > 366LL * 86400 || errno != 0)
			exp = -1;
	}
	if (at == NULL || *at == '\0' || strpbrk(at, "\r\n\001") != NULL ||
	    exp == -1 || (rt != NULL && (*rt == '\0' ||
	    strpbrk(rt, "\r\n") != NULL))) {
		err_set(e, ERR_TEMP, "oauth2: %s: HTTP %ld: malformed "
		    "response (%s)", a->oauth2_token_url, h.status,
		    exp == -1 ? "bad expires_in" : at == NULL ?
		    "no access_token" : "a token that is empty or spans lines");
		goto out;
	}
	t->access = xstrdup(at);
	t->refresh = rt != NULL ? xstrdup(rt) : NULL;
	t->expires = (long long)time(NULL) + exp;
	rc = 0;
out:
	json_wipe(o);
	http_free(&h);
	return rc;
}

/* --- the refresh ------------------------------------------------------- */

/* Use t's access token: it goes into a->password. */
static void
use_token(struct account *a, const struct tokens *t)
{
	if (a->password != NULL)
		freezero(a->password, strlen(a->password));
	a->password = xstrdup(t->access);
	a->oauth2_expires = t->expires;
}

/* Does t hold a token that does for need? */
static int
usable(const struct account *a, const struct tokens *t,
    enum oauth2_need need)
{
	if (t->access == NULL || t->access[0] == '\0' ||
	    t->expires - (long long)time(NULL) <= OAUTH2_MARGIN)
		return 0;
	if (need == OAUTH2_CACHED)
		return 1;
	/* Refused: another process's newer token is worth a try. */
	return need == OAUTH2_REFUSED && a->password != NULL &&
	    strcmp(a->password, t->access) != 0;
}

/* invalid_grant: once per run on stderr and in the log. */
static void
said_invalid(const struct account *a)
{
	static int	said;

	if (said++)
		return;
	log_warnx("account '%s': the OAuth2 refresh token was refused "
	    "(invalid_grant); run: postern --authorize -a %s", a->name,
	    a->name);
	log_mail(LOG_ERR, "account '%s': OAuth2 refresh token refused "
	    "(invalid_grant); run: postern --authorize -a %s", a->name,
	    a->name);
}

/* Refresh with the lock held; t is the store as read under it. */
static int
refresh(struct account *a, const struct tokfile *f, struct tokens *t,
    struct err *e)
{
	struct tokens	 n, file;
	struct strbuf	 form;
	struct tokfile	 rf;
	char		 code[64], *text;
	int		 rc;

	memset(&file, 0, sizeof(file));
	memset(&rf, 0, sizeof(rf));
	if (a->oauth2_refresh_token_file != NULL) {
		if (token_read(a->oauth2_refresh_token_file, 1, &file, e) ==
		    -1)
			return -1;
		token_file_path(&rf, a->oauth2_refresh_token_file);
	}
	if ((rf.path != NULL ? file.refresh : t->refresh) == NULL) {
		err_set(e, ERR_NOPERM, "oauth2: account '%s' has no refresh "
		    "token in %s: run postern --authorize -a %s", a->name,
		    rf.path != NULL ? rf.path : f->path, a->name);
		rc = -1;
		goto out;
	}
	if ((rc = curlso_load(e)) == -1)
		goto out;
	memset(&form, 0, sizeof(form));
	form_add(&form, "grant_type", "refresh_token");
	form_add(&form, "refresh_token", rf.path != NULL ? file.refresh :
	    t->refresh);
	form_add(&form, "scope", a->oauth2_scope);
	rc = token_request(a, &form, &n, code, sizeof(code), e);
	form_free(&form);
	if (rc == -1) {
		if (strcmp(code, "invalid_grant") == 0) {
			said_invalid(a);
			(void)strlcat(e->msg, "; run: postern --authorize -a ",
			    sizeof(e->msg));
			(void)strlcat(e->msg, a->name, sizeof(e->msg));
		}
		goto out;
	}
	spool_crash("oauth2-response");
	/* A rotated refresh token is stored first, before anything. */
	if (n.refresh == NULL)
		n.refresh = xstrdup(rf.path != NULL ? file.refresh :
		    t->refresh);
	if (rf.path != NULL && strcmp(n.refresh, file.refresh) != 0) {
		xasprintf(&text, "%s\n", n.refresh);
		rc = token_write(&rf, text, e);
		freezero(text, strlen(text));
		if (rc == -1) {
			token_free(&n);
			goto out;
		}
	}
	text = token_text(&n, rf.path == NULL);
	rc = token_write(f, text, e);
	freezero(text, strlen(text));
	if (rc == 0) {
		log_debug("oauth2: account '%s': new access token, valid for "
		    "%lld s%s", a->name, n.expires - (long long)time(NULL),
		    strcmp(n.refresh, rf.path != NULL ? file.refresh :
		    t->refresh) != 0 ? "; the refresh token was rotated" :
		    "");
		use_token(a, &n);
	}
	token_free(&n);
out:
	token_free(&file);
	token_file_free(&rf);
	return rc;
}

/*
 * Make a->password an access token for account a: the cached one while
 * it has more than a minute left (need OAUTH2_CACHED), else a fresh one.
 * Only one process refreshes at a time: the others wait for its lock and
 * take what it stored.
 */
int
oauth2_token(struct account *a, enum oauth2_need need, struct err *e)
{
	struct tokens	 t;
	struct tokfile	 f;
	char		*dir;
	int		 lock, rc;

	if (!oauth2_enabled(a))
		return 0;
	if (token_dir(a, &dir, e) == -1)
		return -1;
	token_file(&f, dir, a->name);
	free(dir);
	if ((rc = token_read(f.path, 0, &t, e)) == -1)
		goto out;
	if (usable(a, &t, need)) {
		log_debug("oauth2: account '%s': cached access token, valid "
		    "for %lld s", a->name, t.expires - (long long)time(NULL));
		use_token(a, &t);
		rc = 0;
		goto out;
	}
	token_free(&t);
	if ((lock = token_lock(&f, e)) == -1) {
		rc = -1;
		goto out;
	}
	/* Someone else may have refreshed while we waited. */
	if ((rc = token_read(f.path, 0, &t, e)) != -1) {
		if (need != OAUTH2_REFRESH && usable(a, &t, need)) {
			log_debug("oauth2: account '%s': access token "
			    "refreshed by another process", a->name);
			use_token(a, &t);
			rc = 0;
		} else
			rc = refresh(a, &f, &t, e);
	}
	close(lock);
out:
	token_free(&t);
	token_file_free(&f);
	return rc;
}

/*
 * Is this XOAUTH2 or OAUTHBEARER challenge the server's word that the
 * token was refused ({"status":"401",...}; RFC 7628 3.2.2's
 * "invalid_token")?
 */
int
oauth2_refused(const unsigned char *in, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	const char		*st;
	int			 rc = 0;

	if (len == 0 || len > 4096)
		return 0;
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, (const char *)in, (int)len);
	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    (st = json_str(o, "status")) != NULL)
		rc = strcmp(st, "401") == 0 || strcmp(st, "invalid_token") == 0;
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

/* --- postern --authorize ------------------------------------------------ */

/* Store the first tokens; the spare and the lock are made too. */
static int
authorize_store(struct account *a, struct tokens *t, FILE *out,
    struct err *e)
{
	struct tokfile	 f;
	char		*dir, *text;
	int		 lock, rc;

	if (t->refresh == NULL)
		return err_set(e, ERR_NOPERM, "oauth2: %s gave no refresh "
		    "token (does oauth2_scope ask for offline access?)",
		    a->oauth2_token_url);
	if (token_dir(a, &dir, e) == -1)
		return -1;
	token_file(&f, dir, a->name);
	free(dir);
	if ((lock = token_lock(&f, e)) == -1) {
		token_file_free(&f);
		return -1;
	}
	if (a->oauth2_refresh_token_file != NULL) {
		struct tokfile	rf;

		token_file_path(&rf, a->oauth2_refresh_token_file);
		xasprintf(&text, "%s\n", t->refresh);
		rc = token_write(&rf, text, e);
		freezero(text, strlen(text));
		token_file_free(&rf);
		if (rc == -1)
			goto out;
	}
	text = token_text(t, a->oauth2_refresh_token_file == NULL);
	/* Twice: the second write leaves a spare for the next refresh. */
	if ((rc = token_write(&f, text, e)) == 0)
		rc = token_write(&f, text, e);
	freezero(text, strlen(text));
	if (rc == 0)
		fprintf(out, "postern: account '%s' is authorized; the "
		    "refresh token is in %s\n", a->name,
		    a->oauth2_refresh_token_file != NULL ?
		    a->oauth2_refresh_token_file : f.path);
out:
	close(lock);
	token_file_free(&f);
	return rc;
}

/* RFC 8628: the device authorization grant. */
static int
device_flow(struct account *a, FILE *out, struct tokens *t, struct err *e)
{
	struct strbuf		 form;
	struct http		 h;
	struct json_object	*o, *v;
	const char		*uri, *ucode, *dcode;
	char			*devcode = NULL, code[64], shown[512];
	long long		 interval = 5, deadline;
	int			 rc = -1;

	memset(&form, 0, sizeof(form));
	form_add(&form, "client_id", a->oauth2_client_id);
	form_add(&form, "scope", a->oauth2_scope);
	rc = http_post(a, a->oauth2_device_url, form.s, &h, e);
	form_free(&form);
	if (rc == -1) {
		http_free(&h);
		return -1;
	}
	rc = -1;
	o = parse_json(&h);
	show_response(&h, o);
	uri = o != NULL ? json_str(o, "verification_uri") : NULL;
	if (uri == NULL && o != NULL)
		uri = json_str(o, "verification_url");	/* Google's */
	ucode = o != NULL ? json_str(o, "user_code") : NULL;
	dcode = o != NULL ? json_str(o, "device_code") : NULL;
	if (h.status != 200 || uri == NULL || ucode == NULL || dcode == NULL) {
		err_set(e, ERR_UNAVAIL, "oauth2: %s: HTTP %ld: malformed "
		    "device authorization response", a->oauth2_device_url,
		    h.status);
		goto out;
	}
	deadline = (long long)time(NULL) + 900;
	if (json_object_object_get_ex(o, "expires_in", &v) &&
	    json_object_get_int64(v) > 0)
		deadline = (long long)time(NULL) + json_object_get_int64(v);
	if (json_object_object_get_ex(o, "interval", &v) &&
	    json_object_get_int64(v) > 0 && json_object_get_int64(v) < 3600)
		interval = json_object_get_int64(v);
	server_text(shown, sizeof(shown), uri);
	fprintf(out, "To authorize account '%s', open %s\n", a->name, shown);
	server_text(shown, sizeof(shown), ucode);
	fprintf(out, "and enter the code %s\n", shown);
	fflush(out);
	devcode = xstrdup(dcode);
	for (;;) {
		if ((long long)time(NULL) + interval > deadline) {
			err_set(e, ERR_TEMP, "oauth2: the code expired before "
			    "it was entered; run postern --authorize again");
			break;
		}
		(void)sleep((unsigned int)interval);
		memset(&form, 0, sizeof(form));
		form_add(&form, "grant_type",
		    "urn:ietf:params:oauth:grant-type:device_code");
		form_add(&form, "device_code", devcode);
		rc = token_request(a, &form, t, code, sizeof(code), e);
		form_free(&form);
		if (rc == 0)
			break;
		/* RFC 8628 section 3.5 */
		if (strcmp(code, "authorization_pending") == 0)
			continue;
		if (strcmp(code, "slow_down") == 0) {
			interval += 5;
			continue;
		}
		if (strcmp(code, "expired_token") == 0)
			err_set(e, ERR_TEMP, "oauth2: the code expired before "
			    "it was entered; run postern --authorize again");
		else if (strcmp(code, "access_denied") == 0)
			err_set(e, ERR_NOPERM, "oauth2: the authorization was "
			    "denied");
		break;
	}
out:
	if (devcode != NULL)
		freezero(devcode, strlen(devcode));
	json_wipe(o);
	http_free(&h);
	return rc;
}

/* URL-safe base64 without padding (RFC 7636 appendix A). */
static char *
b64url(const unsigned char *p, size_t n)
{
	char	*s = crypto_b64enc(p, n), *c;

	for (c = s; *c != '\0'; c++)
		if (*c == '+')
			*c = '-';
		else if (*c == '/')
			*c = '_';
	s[strcspn(s, "=")] = '\0';
	return s;
}

/* The value of key in the query of url (decoded), or NULL. */
static char *
query_get(const char *url, const char *key)
{
	const char	*q = strchr(url, '?'), *p;
	size_t		 k = strlen(key), n;
	char		*v, *out;
	int		 len;

	if (q == NULL)
		return NULL;
	for (p = q + 1; *p != '\0' && *p != '#'; p += n + (p[n] == '&')) {
		n = strcspn(p, "&#");
		if (n > k && strncmp(p, key, k) == 0 && p[k] == '=') {
			v = curl_easy_unescape(NULL, p + k + 1,
			    (int)(n - k - 1), &len);
			if (v == NULL)
				return NULL;
			out = xcalloc(1, (size_t)len + 1);
			memcpy(out, v, (size_t)len);
			explicit_bzero(v, (size_t)len);
			curl_free(v);
			if (strlen(out) != (size_t)len) {
				free(out);
				return NULL;
			}
			return out;
		}
	}
	return NULL;
}

/* Read the redirected URL and check it: the code, or -1. */
static int
code_paste(FILE *in, const char *redirect, const char *state, char **code,
    struct err *e)
{
	char	*line = NULL, *st, *err;
	size_t	 cap = 0;
	int	 rc = -1;

	*code = NULL;
	if (getline(&line, &cap, in) <= 0) {
		free(line);
		return err_set(e, ERR_USAGE, "oauth2: no URL was pasted");
	}
	line[strcspn(line, "\r\n")] = '\0';
	st = query_get(line, "state");
	err = query_get(line, "error");
	if (strncmp(line, redirect, strlen(redirect)) != 0)
		err_set(e, ERR_USAGE, "oauth2: that is not the URL the "
		    "browser was sent to (it starts with %s)", redirect);
	else if (st == NULL || strlen(st) != strlen(state) ||
	    !crypto_equal(st, state, strlen(state)))
		err_set(e, ERR_NOPERM, "oauth2: the state in the pasted URL "
		    "is not the one postern sent; nothing was exchanged");
	else if (err != NULL) {
		char shown[128];

		server_text(shown, sizeof(shown), err);
		err_set(e, ERR_NOPERM, "oauth2: the authorization was refused: "
		    "%s", shown);
	} else if ((*code = query_get(line, "code")) == NULL || **code == '\0')
		err_set(e, ERR_USAGE, "oauth2: the pasted URL has no code");
	else
		rc = 0;
	free(st);
	free(err);
	freezero(line, cap);
	return rc;
}

/* RFC 6749 4.1 with RFC 7636 PKCE (S256): the redirected URL is pasted. */
static int
code_flow(struct account *a, FILE *in, FILE *out, struct tokens *t,
    struct err *e)
{
	unsigned char	 raw[32], md[CRYPTO_MAXMD];
	struct strbuf	 url, form;
	char		*verifier, *challenge, *state, *redirect, *code;
	uint32_t	 port;
	int		 rc;

	if (a->oauth2_auth_url == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "--authorize needs oauth2_device_url or oauth2_auth_url",
		    a->file, a->line, a->name);
	arc4random_buf(raw, sizeof(raw));
	verifier = b64url(raw, sizeof(raw));
	(void)crypto_hash(CRYPTO_SHA256, verifier, strlen(verifier), md);
	challenge = b64url(md, 32);
	arc4random_buf(raw, 16);
	state = b64url(raw, 16);
	explicit_bzero(raw, sizeof(raw));
	arc4random_buf(&port, sizeof(port));
	port = 49152 + port % 16384;
	xasprintf(&redirect, "http://127.0.0.1:%u/", (unsigned int)port);
	memset(&url, 0, sizeof(url));
	form_add(&url, "response_type", "code");
	form_add(&url, "client_id", a->oauth2_client_id);
	form_add(&url, "redirect_uri", redirect);
	form_add(&url, "scope", a->oauth2_scope);
	form_add(&url, "state", state);
	form_add(&url, "code_challenge", challenge);
	form_add(&url, "code_challenge_method", "S256");
	if (strcmp(a->oauth2_provider, "google") == 0) {
		/* Google gives a refresh token only when asked so. */
		form_add(&url, "access_type", "offline");
		form_add(&url, "prompt", "consent");
	}
	fprintf(out, "To authorize account '%s', open this URL in a "
	    "browser:\n\n%s%s%s\n\nThen paste here the address the browser "
	    "was sent to (it starts with %s;\nthe page itself will not "
	    "load): ", a->name, a->oauth2_auth_url,
	    strchr(a->oauth2_auth_url, '?') != NULL ? "&" : "?", url.s,
	    redirect);
	fflush(out);
	free(url.s);
	rc = code_paste(in, redirect, state, &code, e);
	if (rc == 0) {
		memset(&form, 0, sizeof(form));
		form_add(&form, "grant_type", "authorization_code");
		form_add(&form, "code", code);
		form_add(&form, "redirect_uri", redirect);
		form_add(&form, "code_verifier", verifier);
		rc = token_request(a, &form, t, NULL, 0, e);
		form_free(&form);
	}
	if (code != NULL)
		freezero(code, strlen(code));
	freezero(verifier, strlen(verifier));
	free(challenge);
	free(state);
	free(redirect);
	return rc;
}

/*
 * postern --authorize: get a refresh token and keep it in the token
 * store.  It runs as the caller; for the system configuration
 * (system), only root may.
 */
int
oauth2_authorize(struct account *a, int system, FILE *in, FILE *out,
    struct err *e)
{
	struct tokens	t;
	int		rc;

	if (!oauth2_enabled(a))
		return err_set(e, ERR_USAGE, "%s:%zu: account '%s' does not "
		    "use OAuth2 (no oauth2_provider)", a->file, a->line,
		    a->name);
	if (system && getuid() != 0)
		return err_set(e, ERR_NOPERM, "--authorize for an account of "
		    "the system configuration needs root (or -C FILE for "
		    "your own)");
	if (curlso_load(e) == -1)
		return -1;
	memset(&t, 0, sizeof(t));
	if (a->oauth2_device_url != NULL)
		rc = device_flow(a, out, &t, e);
	else
		rc = code_flow(a, in, out, &t, e);
	if (rc == 0)
		rc = authorize_store(a, &t, out, e);
	token_free(&t);
	return rc;
}

#endif /* HAVE_OAUTH2 */
