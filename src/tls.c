/*
 * TLS over a connection: the only file that uses OpenSSL's TLS and X.509
 * API.  It fails closed: the certificate is verified against the system
 * store (the hashed directory, looked up lazily, never a whole bundle
 * parsed at start-up) or tls_trust_file, the host name (or IP address) is
 * checked by OpenSSL, SNI is sent for names, TLS 1.2 is the minimum and
 * renegotiation is refused.  A verification or version failure is a TLS
 * policy failure (ERR_TLSPOLICY); an I/O failure during the handshake is
 * temporary (ERR_TEMP).
 *
 * Sessions are resumed across processes (tlscache.c keeps them): the
 * session, with the ticket the server sent (TLS 1.3 NewSessionTicket,
 * which arrives with the first read after the handshake, or a TLS 1.2
 * ticket), is kept under a key made of everything that made the first
 * handshake acceptable, so that a resumed session is as bound to the
 * host as a verified one.  A server that declines gets a full handshake.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "extern.h"

struct tls {
	SSL_CTX		*ctx;
	SSL		*ssl;
	const char	*cachedir;	/* the session cache's queue dir, or
					   NULL: no resumption (--check) */
	char		*cachekey;
	const char	*trust_file;	/* tls_trust_file, not yet loaded */
	char		*trust_err;	/* why it could not be loaded */
	int		 offered;	/* a cached session was offered */
	int		 stored;	/* a session of this one is kept */
};

/*
 * The name the certificate must match, and SNI: tls_host_override, or the
 * host connected to.
 */
static const char *
checked_name(const struct account *a, const char *host)
{
	return a->host_override != NULL ? a->host_override : host;
}

/* The session cache's key, salted with OpenSSL's version as Postfix does. */
#define TLS_KEYFMT	"openssl %lx\naccount %s\nhost %s\nport %u\n" \
			"sni %s\nmin %d\ntrust %s\nclient %s\n"

/* The most recent OpenSSL error as text, emptying the error queue. */
static const char *
ssl_errstr(void)
{
	static char	buf[256];
	unsigned long	code, last = 0;

	while ((code = ERR_get_error()) != 0)
		last = code;
	if (last == 0)
		return "unknown error";
	ERR_error_string_n(last, buf, sizeof(buf));
	return buf;
}

/*
 * Wait as the last SSL call asked.  Anything but WANT_READ/WANT_WRITE is
 * an error for the caller; *ret carries SSL_get_error's verdict.
 */
static int
tls_wait(struct conn *c, int rv, int *ret, struct err *e)
{
	*ret = SSL_get_error(c->tls->ssl, rv);
	if (*ret == SSL_ERROR_WANT_READ)
		return net_wait(c, POLLIN, e);
	if (*ret == SSL_ERROR_WANT_WRITE)
		return net_wait(c, POLLOUT, e);
	return -1;
}

/* Name what verification refused, in words an admin can act on. */
static int
verify_failed(struct conn *c, long v, const char *host, struct err *e)
{
	const char	*why;

	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		why = "the server certificate has expired";
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		why = "the server certificate is not yet valid";
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return err_set(e, ERR_TLSPOLICY, "%s: TLS: the server "
		    "certificate does not match host name %s", c->peer, host);
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return err_set(e, ERR_TLSPOLICY, "%s: TLS: the server "
		    "certificate has an untrusted issuer (%s)", c->peer,
		    X509_verify_cert_error_string(v));
	default:
		return err_set(e, ERR_TLSPOLICY, "%s: TLS: certificate "
		    "verification failed: %s", c->peer,
		    X509_verify_cert_error_string(v));
	}
	return err_set(e, ERR_TLSPOLICY, "%s: TLS: %s", c->peer, why);
}

static int
handshake_failed(struct conn *c, int sslerr, const char *host, struct err *e)
{
	unsigned long	code = ERR_peek_last_error();
	long		v = SSL_get_verify_result(c->tls->ssl);

	if (c->tls->trust_err != NULL) {
		ERR_clear_error();
		return err_set(e, ERR_CONFIG, "%s", c->tls->trust_err);
	}
	if (v != X509_V_OK) {
		ERR_clear_error();
		return verify_failed(c, v, host, e);
	}
	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    (ERR_GET_REASON(code) == SSL_R_UNSUPPORTED_PROTOCOL ||
	    ERR_GET_REASON(code) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
	    ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER))
		return err_set(e, ERR_TLSPOLICY, "%s: TLS: no acceptable "
		    "protocol version (%s)", c->peer, ssl_errstr());
	if (sslerr == SSL_ERROR_SYSCALL && code == 0)
		return err_set(e, ERR_TEMP, "%s: TLS handshake: connection "
		    "closed by the server", c->peer);
	return err_set(e, ERR_TEMP, "%s: TLS handshake failed: %s", c->peer,
	    ssl_errstr());
}

/* Client certificate and key; the key is a secret like a password. */
static int
tls_client_cert(struct tls *t, const struct account *a, struct err *e)
{
	struct stat	st;

	if (a->cert_file == NULL && a->key_file == NULL)
		return 0;
	if (a->cert_file == NULL || a->key_file == NULL)
		return err_set(e, ERR_CONFIG, "%s:%zu: account '%s': "
		    "tls_cert_file and tls_key_file go together",
		    a->file, a->line, a->name);
	if (stat(a->key_file, &st) == -1)
		return err_set(e, ERR_CONFIG, "tls_key_file %s: %s",
		    a->key_file, strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return err_set(e, ERR_CONFIG, "tls_key_file %s: readable by "
		    "others (mode %03o; chmod 600 it)", a->key_file,
		    (unsigned int)(st.st_mode & 0777));
	if (SSL_CTX_use_certificate_chain_file(t->ctx, a->cert_file) != 1)
		return err_set(e, ERR_CONFIG, "tls_cert_file %s: %s",
		    a->cert_file, ssl_errstr());
	if (SSL_CTX_use_PrivateKey_file(t->ctx, a->key_file,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(t->ctx) != 1)
		return err_set(e, ERR_CONFIG, "tls_key_file %s: %s",
		    a->key_file, ssl_errstr());
	return 0;
}

/*
 * tls_crl_file: the revocation lists of a PEM file; every certificate of
 * the chain is then checked against them, and one whose issuer has no
 * list there fails (X509_V_FLAG_CRL_CHECK_ALL), as with msmtp.
 */
static int
tls_crl(struct tls *t, const struct account *a, struct err *e)
{
	X509_STORE	*st = SSL_CTX_get_cert_store(t->ctx);
	X509_LOOKUP	*lk;

	if (a->crl_file == NULL)
		return 0;
	if ((lk = X509_STORE_add_lookup(st, X509_LOOKUP_file())) == NULL ||
	    X509_load_crl_file(lk, a->crl_file, X509_FILETYPE_PEM) < 1)
		return err_set(e, ERR_CONFIG, "tls_crl_file %s: cannot load: "
		    "%s", a->crl_file, ssl_errstr());
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

/*
 * Verify the server's chain, with tls_trust_file loaded only now: a
 * resumed session needs no chain, and parsing the file is much of the
 * cost of a TLS client (the system directory is looked up lazily
 * anyway).
 */
static int
verify_chain(X509_STORE_CTX *xs, void *arg)
{
	struct tls	*t = arg;

	if (t->trust_file != NULL) {
		if (X509_STORE_load_file(SSL_CTX_get_cert_store(t->ctx),
		    t->trust_file) != 1) {
			free(t->trust_err);
			xasprintf(&t->trust_err, "tls_trust_file %s: cannot "
			    "load: %s", t->trust_file, ssl_errstr());
			X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
			return 0;
		}
		t->trust_file = NULL;
	}
	return X509_verify_cert(xs);
}

/*
 * What the server certificate is checked against: the chain (system
 * directory or tls_trust_file) and the name, unless a fingerprint
 * replaces both or tls_certcheck is off.
 */
static int
tls_trust(struct tls *t, const struct account *a, struct err *e)
{
	if (a->has_fpr || !a->certcheck) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
		if (!a->has_fpr)
			log_warnx("warning: tls_certcheck is off: the server "
			    "certificate is not verified");
		return 0;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (a->trust_file != NULL) {
		t->trust_file = a->trust_file;
		SSL_CTX_set_cert_verify_callback(t->ctx, verify_chain, t);
	} else if (SSL_CTX_load_verify_dir(t->ctx,
	    X509_get_default_cert_dir()) != 1)
		return err_set(e, ERR_CONFIG, "TLS: cannot use the system "
		    "certificate directory %s: %s",
		    X509_get_default_cert_dir(), ssl_errstr());
	return tls_crl(t, a, e);
}

/*
 * What a cached session is bound to, as Postfix keys its session cache
 * (tls_serverid_digest: server, SNI, protocols, trust anchors): the host
 * connected to, the port, the name checked and sent as SNI, the minimum
 * version, how the certificate was judged (the trust file with a digest
 * of its contents, the system directory, the pinned fingerprint, or no
 * check, and the revocation list with a digest of its contents) and the
 * client certificate.  A change to any of them is another
 * key, so the session it made is never offered.
 */
static char *
cache_key(const struct account *a, const char *conn_host, const char *sni)
{
	char	 trust[PATH_MAX + 128], client[2 * PATH_MAX + 128];
	char	 hex[65], *key;
	size_t	 i;

	if (!a->certcheck && !a->has_fpr)
		(void)strlcpy(trust, "none", sizeof(trust));
	else if (a->has_fpr) {
		(void)strlcpy(trust, "fingerprint ", sizeof(trust));
		for (i = 0; i < sizeof(a->fpr); i++)
			(void)snprintf(hex + 2 * i, 3, "%02x", a->fpr[i]);
		(void)strlcat(trust, hex, sizeof(trust));
	} else if (a->trust_file != NULL) {
		tlscache_digest(a->trust_file, hex);
		(void)snprintf(trust, sizeof(trust), "file %s %s",
		    a->trust_file, hex);
	} else
		(void)snprintf(trust, sizeof(trust), "system %s",
		    X509_get_default_cert_dir());
	/* A new revocation list is a new judgement of the certificate. */
	if (a->crl_file != NULL && (a->certcheck || a->has_fpr)) {
		tlscache_digest(a->crl_file, hex);
		(void)strlcat(trust, " crl ", sizeof(trust));
		(void)strlcat(trust, a->crl_file, sizeof(trust));
		(void)strlcat(trust, " ", sizeof(trust));
		(void)strlcat(trust, hex, sizeof(trust));
	}
	if (a->cert_file != NULL) {
		tlscache_digest(a->cert_file, hex);
		(void)snprintf(client, sizeof(client), "%s %s %s",
		    a->cert_file, hex, a->key_file != NULL ? a->key_file : "-");
	} else
		(void)strlcpy(client, "none", sizeof(client));
	xasprintf(&key, TLS_KEYFMT, (unsigned long)OpenSSL_version_num(),
	    a->name, conn_host, conf_port(a), sni, a->tls_min, trust, client);
	return key;
}

/*
 * A new session from the server: kept for later processes, the first
 * one of a connection (a TLS 1.3 server may send several tickets).
 * Its lifetime is the shorter of the session's and the ticket's.
 */
static int
session_new(SSL *ssl, SSL_SESSION *sess)
{
	struct tls	*t = SSL_get_app_data(ssl);
	unsigned char	*der, *p;
	long		 life, hint;
	int		 len;

	if (t == NULL || t->cachekey == NULL || t->stored ||
	    !SSL_SESSION_is_resumable(sess))
		return 0;
	if ((len = i2d_SSL_SESSION(sess, NULL)) <= 0)
		return 0;
	p = der = xcalloc(1, (size_t)len);
	if (i2d_SSL_SESSION(sess, &p) == len) {
		life = SSL_SESSION_get_timeout(sess);
		hint = (long)SSL_SESSION_get_ticket_lifetime_hint(sess);
		if (hint > 0 && hint < life)
			life = hint;
		tlscache_put(t->cachedir, t->cachekey,
		    (long long)SSL_SESSION_get_time(sess) + life, der,
		    (size_t)len);
		t->stored = 1;
	}
	freezero(der, (size_t)len);
	return 0;	/* no reference kept */
}

/* Offer the cached session, if there is one for this key. */
static void
session_offer(struct tls *t, const struct account *a)
{
	SSL_SESSION		*sess;
	unsigned char		*der;
	const unsigned char	*p;
	size_t			 len;

	if (tlscache_get(t->cachedir, t->cachekey, &der, &len) == -1)
		return;
	p = der;
	sess = d2i_SSL_SESSION(NULL, &p, (long)len);
	freezero(der, len);
	if (sess == NULL) {
		ERR_clear_error();
		return;
	}
	if (SSL_SESSION_is_resumable(sess) &&
	    SSL_SESSION_get_protocol_version(sess) >= (a->tls_min == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION) &&
	    SSL_set_session(t->ssl, sess) == 1)
		t->offered = 1;
	SSL_SESSION_free(sess);
	ERR_clear_error();
}


/* The fingerprint of len bytes (MD5, SHA-1, SHA-256), as AB:CD:... */
static void
cert_fprn(X509 *cert, int len, char *buf, size_t size, unsigned char *md)
{
	unsigned int	n = 0, i;
	size_t		o = 0;

	buf[0] = '\0';
	if (X509_digest(cert, len == 16 ? EVP_md5() : len == 20 ?
	    EVP_sha1() : EVP_sha256(), md, &n) != 1)
		return;
	for (i = 0; i < n && o + 4 <= size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%02X",
		    i ? ":" : "", md[i]);
}

/* The SHA-256 fingerprint of a certificate. */
static void
cert_fpr(X509 *cert, char *buf, size_t size, unsigned char *md)
{
	cert_fprn(cert, 32, buf, size, md);
}

/* tls_fingerprint replaces the chain and name checks. */
static int
check_fpr(struct conn *c, const struct account *a, struct err *e)
{
	X509		*cert;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	char		 got[3 * EVP_MAX_MD_SIZE];

	if (!a->has_fpr)
		return 0;
	if ((cert = SSL_get1_peer_certificate(c->tls->ssl)) == NULL)
		return err_set(e, ERR_TLSPOLICY, "%s: TLS: the server sent "
		    "no certificate", c->peer);
	cert_fprn(cert, a->has_fpr, got, sizeof(got), md);
	if (memcmp(md, a->fpr, (size_t)a->has_fpr) != 0) {
		X509_free(cert);
		return err_set(e, ERR_TLSPOLICY, "%s: TLS: the server "
		    "certificate's %s fingerprint %s does not match "
		    "tls_fingerprint", c->peer, a->has_fpr == 16 ? "MD5" :
		    a->has_fpr == 20 ? "SHA-1" : "SHA-256", got);
	}
	/* msmtp still takes these; say what to write instead. */
	if (a->has_fpr != 32) {
		cert_fpr(cert, got, sizeof(got), md);
		log_warnx("warning: tls_fingerprint is %s, which is weak; "
		    "write the SHA-256 one: %s", a->has_fpr == 16 ? "MD5" :
		    "SHA-1", got);
	}
	X509_free(cert);
	return 0;
}

/* Describe the session for the -v transcript. */
static void
tls_describe(struct conn *c)
{
	X509	*cert;
	char	 subj[256], issuer[256];

	if (!log_verbose())
		return;
	log_debug("TLS established: %s, %s", SSL_get_version(c->tls->ssl),
	    SSL_get_cipher_name(c->tls->ssl));
	if ((cert = SSL_get1_peer_certificate(c->tls->ssl)) == NULL)
		return;
	X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
	log_debug("server certificate: subject %s, issuer %s", subj, issuer);
	X509_free(cert);
}

/*
 * Set TLS up on c's socket for the handshake tls_start() will run: the
 * context, the trust settings, the client certificate, the session kept
 * for this server.  That is most of the CPU a handshake costs (OpenSSL 3
 * fetching its algorithms, the kept session decoded), so smtp.c calls it
 * right after sending STARTTLS, while the reply is on its way.  The name
 * checked against the certificate, and sent as SNI, is host (the one
 * connected to) or tls_host_override.  With resume (not for --check) and
 * the queue on, a cached session is offered and the server's new one
 * kept.  c stays plain until tls_start().
 */
int
tls_prepare(struct conn *c, const struct account *a, const char *conn_host,
    int resume, struct err *e)
{
	const char	*host = checked_name(a, conn_host);
	struct tls	*t;
	unsigned char	 ip[sizeof(struct in6_addr)];
	int		 isip;

	ERR_clear_error();
	t = c->tls_ready = xcalloc(1, sizeof(*t));
	/* postern reads no openssl.cnf: nothing in it is for us. */
	(void)OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return err_set(e, ERR_SOFTWARE, "TLS: %s", ssl_errstr());
	if (resume && a->queue) {
		t->cachedir = conf_queuedir(a);
		t->cachekey = cache_key(a, conn_host, host);
		SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(t->ctx, session_new);
	}
	SSL_CTX_set_min_proto_version(t->ctx, a->tls_min == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
	if (tls_trust(t, a, e) == -1 || tls_client_cert(t, a, e) == -1)
		return -1;
	if ((t->ssl = SSL_new(t->ctx)) == NULL ||
	    SSL_set_fd(t->ssl, c->fd) != 1)
		return err_set(e, ERR_SOFTWARE, "TLS: %s", ssl_errstr());
	SSL_set_app_data(t->ssl, t);
	if (t->cachekey != NULL)
		session_offer(t, a);
	isip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (isip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    host) != 1)
			return err_set(e, ERR_SOFTWARE, "TLS: %s",
			    ssl_errstr());
	} else if (SSL_set1_host(t->ssl, host) != 1 ||
	    SSL_set_tlsext_host_name(t->ssl, host) != 1)
		return err_set(e, ERR_SOFTWARE, "TLS: %s", ssl_errstr());
	return 0;
}

/*
 * Run the TLS handshake on c's socket, set up by tls_prepare() (or now,
 * with the same arguments), and switch c to TLS.
 */
int
tls_start(struct conn *c, const struct account *a, const char *host,
    int resume, struct err *e)
{
	int	 rv, sslerr;

	if (c->tls_ready == NULL && tls_prepare(c, a, host, resume, e) == -1)
		return -1;
	c->tls = c->tls_ready;
	c->tls_ready = NULL;
	host = checked_name(a, host);
	while ((rv = SSL_connect(c->tls->ssl)) != 1) {
		if (tls_wait(c, rv, &sslerr, e) == -1) {
			if (sslerr == SSL_ERROR_WANT_READ ||
			    sslerr == SSL_ERROR_WANT_WRITE)
				return -1;	/* timed out */
			return handshake_failed(c, sslerr, host, e);
		}
	}
	if (check_fpr(c, a, e) == -1)
		return -1;
	tls_describe(c);
	if (SSL_session_reused(c->tls->ssl))
		log_debug("TLS resumed");
	else if (c->tls->offered)
		log_debug("TLS: the server did not resume the cached session");
	return 0;
}

/* The TLS library and its version, for --version. */
const char *
tls_library(void)
{
	return OPENSSL_VERSION_TEXT;
}

/*
 * For --check: the protocol, the cipher and the chain the server sent,
 * with subjects, issuers, expiry dates and SHA-256 fingerprints.
 */
void
tls_print(struct conn *c, FILE *fp)
{
	STACK_OF(X509)	*chain;
	X509		*cert;
	BIO		*bio;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	char		 name[256], fpr[3 * EVP_MAX_MD_SIZE];
	int		 i;

	fprintf(fp, "TLS: %s, %s\n", SSL_get_version(c->tls->ssl),
	    SSL_get_cipher_name(c->tls->ssl));
	if ((chain = SSL_get_peer_cert_chain(c->tls->ssl)) == NULL)
		return;
	if ((bio = BIO_new_fp(fp, BIO_NOCLOSE)) == NULL)
		return;
	for (i = 0; i < sk_X509_num(chain); i++) {
		cert = sk_X509_value(chain, i);
		X509_NAME_oneline(X509_get_subject_name(cert), name,
		    sizeof(name));
		fprintf(fp, "certificate %d: subject %s\n", i, name);
		X509_NAME_oneline(X509_get_issuer_name(cert), name,
		    sizeof(name));
		fprintf(fp, "  issuer %s\n", name);
		fprintf(fp, "  valid until ");
		(void)fflush(fp);
		(void)ASN1_TIME_print(bio, X509_get0_notAfter(cert));
		(void)BIO_flush(bio);
		cert_fpr(cert, fpr, sizeof(fpr), md);
		fprintf(fp, "\n  SHA-256 %s\n", fpr);
	}
	BIO_free(bio);
}

/* Read what is there (at least one byte); 0 at a clean close. */
ssize_t
tls_read(struct conn *c, void *buf, size_t n, struct err *e)
{
	size_t	got;
	int	rv, sslerr;

	while ((rv = SSL_read_ex(c->tls->ssl, buf, n, &got)) != 1) {
		if (tls_wait(c, rv, &sslerr, e) == 0)
			continue;
		if (sslerr == SSL_ERROR_WANT_READ ||
		    sslerr == SSL_ERROR_WANT_WRITE)
			return -1;
		if (sslerr == SSL_ERROR_ZERO_RETURN)
			return 0;
		err_set(e, ERR_TEMP, "%s: TLS read: %s", c->peer,
		    sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ?
		    "connection closed" : ssl_errstr());
		return -1;
	}
	return (ssize_t)got;
}

/* Write all of buf; OpenSSL cuts it into full records. */
int
tls_write(struct conn *c, const void *buf, size_t n, struct err *e)
{
	const char	*p = buf;
	size_t		 done;
	int		 rv, sslerr;

	while (n > 0) {
		rv = SSL_write_ex(c->tls->ssl, p, n, &done);
		if (rv == 1) {
			p += done;
			n -= done;
			continue;
		}
		if (tls_wait(c, rv, &sslerr, e) == 0)
			continue;
		if (sslerr == SSL_ERROR_WANT_READ ||
		    sslerr == SSL_ERROR_WANT_WRITE)
			return -1;
		return err_set(e, ERR_TEMP, "%s: TLS write: %s", c->peer,
		    ssl_errstr());
	}
	return 0;
}

static void
tls_free(struct tls *t, int shutdown)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL) {
		if (shutdown)	/* best effort, never waits */
			(void)SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	free(t->cachekey);
	free(t->trust_err);
	free(t);
}

/* End TLS on c, and forget a set-up whose handshake never began. */
void
tls_close(struct conn *c)
{
	tls_free(c->tls, 1);
	tls_free(c->tls_ready, 0);
	c->tls = c->tls_ready = NULL;
	ERR_clear_error();
}
