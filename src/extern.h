/*
 * The one private header of postern: the plain structs that travel along
 * the data flow of DESIGN.md (argv -> conf -> msg -> queue -> smtp -> log)
 * and the prototypes, grouped by the file that defines them.  Modules
 * return errors in a struct err; only main.c turns an error class into an
 * exit status.
 */
#ifndef POSTERN_EXTERN_H
#define POSTERN_EXTERN_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* --- errors (log.c) ------------------------------------------------- */

enum errclass {
	ERR_NONE = 0,
	ERR_USAGE,	/* 64: bad command line */
	ERR_DATA,	/* 65: message unusable */
	ERR_NOUSER,	/* 67: a recipient refused with 5xx */
	ERR_UNAVAIL,	/* 69: permanent refusal by the smarthost */
	ERR_SOFTWARE,	/* 70: internal error */
	ERR_OS,		/* 71: OS error */
	ERR_CANTCREAT,	/* 73: spool not writable */
	ERR_IO,		/* 74: I/O error */
	ERR_TEMP,	/* 75: temporary failure */
	ERR_PROTO,	/* 76: the server broke the protocol */
	ERR_NOPERM,	/* 77: authentication refused */
	ERR_CONFIG,	/* 78: configuration error */
	ERR_TLSPOLICY,	/* TLS policy not met: queued, or 69 with queue off */
	ERR_NOINPUT	/* 66: an input file is missing or unreadable */
};

#define ERR_MSGLEN	1024

struct err {
	enum errclass	 cls;
	char		 msg[ERR_MSGLEN];
};

int	 err_set(struct err *, enum errclass, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	 err_setv(struct err *, enum errclass, const char *, va_list)
	    __attribute__((format(printf, 3, 0)));

/* --- logging (log.c) ------------------------------------------------ */

void	 log_init(int verbose);
int	 log_verbose(void);
void	 log_escape(char *, size_t, const char *, size_t);
void	 log_proto(const char *, const char *, size_t);
void	 log_debug(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_quiet(int);
void	 log_setup(const char *, int, const char *, const char *);
void	 log_mail(int, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 log_facility(const char *);
const char *log_facname(int);
void	 log_close(void);
void	 log_hold(void);
void	 log_release(void);

/* What became of one message: the one summary line of log_message(). */
struct logmsg {
	const char	*queueid;	/* NULL: not queued (the queue fills it) */
	const char	*msgid;
	const char	*from;
	const struct envelope *env;
	off_t		 size;
	const char	*relay;		/* host[address]:port, or NULL */
	double		 delay;		/* seconds since postern started */
	const char	*status;	/* sent, deferred, bounced */
	const char	*reply;		/* the smarthost's reply, or why */
};

void	 log_message(const struct logmsg *);

/* --- configuration (conf.c) ----------------------------------------- */

enum auth_mech {
	AUTH_OFF = 0,
	AUTH_ON,	/* pick the best mechanism both sides have */
	AUTH_PLAIN,
	AUTH_LOGIN,
	AUTH_CRAM_MD5,
	AUTH_SCRAM_SHA_1,
	AUTH_SCRAM_SHA_256,
	AUTH_XOAUTH2,
	AUTH_OAUTHBEARER,
	AUTH_EXTERNAL
};

enum msg_set {
	MSG_AUTO = 0,	/* add the header when it is missing (default) */
	MSG_OFF,	/* never add it */
	MSG_ON		/* always set it, replacing any (From only) */
};

/* One DKIM signature to add: dkim_selector, dkim_key_file (conf.c). */
struct dkimkey {
	char			*selector;
	char			*file;
	struct crypto_key	*key;
};

struct account {
	char		*name;
	char		*host;
	unsigned int	 port;		/* 0: 25, or 465 with implicit TLS */
	int		 tls;
	int		 starttls;
	char		*trust_file;
	enum auth_mech	 auth;
	char		*user;
	char		*password;	/* wiped by conf_free() */
	char		*from;
	char		*domain;	/* EHLO argument; NULL: the FQDN */
	int		 set_from;	/* enum msg_set */
	int		 set_date;
	int		 set_msgid;
	int		 remove_bcc;
	int		 undisclosed;
	char		*from_full_name;
	char		*maildomain;	/* NULL: /etc/mailname, else FQDN */
	int		 timeout;	/* seconds, per step */
	char		*source_ip;	/* bind to this address */
	unsigned char	 fpr[32];	/* tls_fingerprint (SHA-256) */
	int		 has_fpr;	/* its length: 32, or 20 (SHA-1) or
					   16 (MD5), which are weak; 0: none */
	int		 certcheck;	/* tls_certcheck */
	char		*host_override;	/* name the certificate must match */
	char		*cert_file;	/* client certificate */
	char		*key_file;
	int		 tls_min;	/* 12: TLS 1.2, 13: TLS 1.3 */
	char		*dsn_notify;	/* wire form: NEVER, SUCCESS,FAILURE */
	char		*dsn_return;	/* FULL or HDRS */
	char		*passwordeval;	/* command whose output is the password */
	int		 plaintext;	/* auth_allow_plaintext */
	int		 queue;		/* queue on|off */
	char		*queue_dir;	/* NULL: SPOOLDIR */
	int		 retry_min;	/* seconds: queue_retry_min */
	int		 retry_max;	/* seconds: queue_retry_max */
	int		 lifetime;	/* seconds: queue_lifetime */
	int		 from_override;	/* allow_from_override */
	char		*aliases;	/* the aliases file, or NULL */
	char		*logfile;	/* NULL: none */
	char		*logtime;	/* logfile_time_format */
	int		 syslog;	/* -1: off, else the facility */
	char		*dkim_domain;	/* d= */
	char		*dkim_selector;	/* the keys as written: lists */
	char		*dkim_key_file;
	char		*dkim_algorithm;
	char		*dkim_headers;
	struct dkimkey	*dkim;		/* loaded by conf_load(), if asked */
	size_t		 ndkim;
	char		**dkim_h;	/* dkim_headers, lower case, "from"
					   first */
	size_t		 ndkim_h;
	int		 auto_from;	/* from is %U@maildomain (msmtp) */
	char		*crl_file;	/* tls_crl_file */
	char		*password_file;	/* the password is its first line */
	int		 user_config;	/* system file: user files allowed */
	char		*priorities;	/* accepted, ignored: tls_priorities */
	char		*dh_bits;	/* tls_min_dh_prime_bits */
	char		*ntlmdomain;
	char		*file;		/* where it was defined */
	size_t		 line;
	/* OAuth2 (oauth2.c): the access token goes into password. */
	char		*oauth2_provider;	/* microsoft|google|custom */
	char		*oauth2_tenant;
	char		*oauth2_client_id;
	char		*oauth2_client_secret;	/* wiped by conf_free() */
	char		*oauth2_client_secret_file;
	char		*oauth2_token_url;
	char		*oauth2_device_url;
	char		*oauth2_auth_url;
	char		*oauth2_scope;
	char		*oauth2_trust_file;
	char		*oauth2_proxy;
	char		*oauth2_refresh_token_file;
	long long	 oauth2_expires;	/* the access token's expiry */
};

/* Where the configuration came from (userconf.c). */
enum conf_kind {
	CONF_SYSTEM = 0,	/* the system file */
	CONF_CMDLINE,		/* -C FILE */
	CONF_USER,		/* the caller's own file */
	CONF_ENV		/* no file: the environment alone */
};

struct conf {
	char		*path;
	struct account	*accts;
	size_t		 nacct;
	char		*defname;	/* account default : NAME */
	enum conf_kind	 kind;
	size_t		 nenv;		/* POSTERN_* variables applied */
};

int	 conf_load(struct conf *, const char *, int, struct err *);
int	 conf_keys(struct conf *, struct err *);
const char *conf_why(const char *);
int	 conf_duration(const char *, int *);
const char *conf_queuedir(const struct account *);
int	 conf_parse(struct conf *, const char *, FILE *, struct err *);
struct account *conf_account(struct conf *, const char *, const char *,
	    struct err *);
unsigned int conf_port(const struct account *);
int	 conf_password(struct account *, struct err *);
int	 conf_notify(const char *, char **);
int	 conf_set(struct conf *, const char *, const char *, const char *,
	    const char *, struct err *);
int	 conf_from(const struct account *, const char *, char **,
	    struct err *);
struct account *conf_choose(struct conf *, const char *, const char *,
	    int *, struct err *);
int	 conf_return(const char *, char **);
void	 conf_free(struct conf *);

/* --- configuration sources (userconf.c) ------------------------------ */

/* How userconf_load() reads: flags. */
#define USERCONF_KEYS	0x01	/* load the DKIM keys (a mode that sends) */
#define USERCONF_NOMKDIR 0x02	/* --pretend: create no queue directory */

int	 userconf_load(struct conf *, const char *, int, struct err *);

/* --- msmtp's substitutions (subst.c) -------------------------------- */

#define MAILNAME_FILE	"/etc/mailname"

int	 subst_secure(void);
char	*subst_home(void);
char	*subst_tilde(const char *);
char	*subst_user(void);
char	*subst_from(const char *, struct err *);
int	 subst_wildcard(const char *);

/* --- --read-envelope-from (envfrom.c) ------------------------------ */

int	 envfrom_read(int, char **, struct err *);

/* --- --pretend (pretend.c) ------------------------------------------ */

struct pretend {
	const struct conf	*conf;
	const struct account	*acct;
	const char		*from;		/* the envelope sender */
	const char		*domain;	/* the EHLO argument */
	const char		*chosen_by;	/* -f address that chose it */
	int			 fallback;	/* no from matched: default */
	int			 extract;	/* -t */
	int			 read_from;	/* --read-envelope-from */
};

void	 pretend_print(const struct pretend *, FILE *);

/* --- the message (msg.c) -------------------------------------------- */


struct msgopts {
	int		 ignoredots;	/* -i: only EOF ends the input */
	int		 extract;	/* -t: recipients from the headers */
	const char	*sender;	/* envelope sender, qualified; "" */
	const char	*fullname;	/* -F or from_full_name; NULL: GECOS */
	const char	*maildomain;	/* qualifies bare local names */
	enum msg_set	 set_from;	/* set_from_header */
	enum msg_set	 set_date;	/* set_date_header (auto|off) */
	enum msg_set	 set_msgid;	/* set_msgid_header (auto|off) */
	int		 keep_bcc;	/* remove_bcc_headers off */
	int		 undisclosed;	/* undisclosed_recipients on */
	time_t		 now;		/* for Date and Message-ID */
	int		 outfd;		/* > 0: write the prepared message
					   here (the spool file); 0: into an
					   unlinked temporary file */
};

/*
 * The prepared message: a file (spool file, or an unlinked temporary
 * file) holding the message with CRLF line ends, not dot-stuffed, ending
 * in CRLF.  What the client needs to know before MAIL FROM is here.
 */
struct msg {
	int		 fd;
	off_t		 size;		/* bytes in fd */
	int		 eightbit;	/* some byte >= 0x80 */
	size_t		 maxline;	/* longest line, without CRLF */
	char		**rcpts;	/* -t: from the headers, no duplicates */
	int		*bare;		/* rcpts[i] was a bare local name */
	size_t		 nrcpt;
	char		 msgid[256];	/* the Message-ID, for the log */
	const char	*sig;		/* DKIM-Signature fields, sent before
					   the file (smtp.c) */
	size_t		 siglen;
};

#define MSG_IOSZ	65536	/* bytes read or written at a time */

/* A file written in pieces of MSG_IOSZ bytes (msg.c). */
struct msgbuf {
	int		 fd;
	struct dkim	*dk;		/* sees each piece written, or NULL */
	size_t		 len;
	off_t		 size;		/* bytes written out so far */
	char		 buf[MSG_IOSZ];
};

int	 msg_read(int, const struct msgopts *, struct msg *, struct err *);
int	 msg_write(int, const char *, size_t, struct err *);
int	 msgbuf_put(struct msgbuf *, const char *, size_t, struct err *);
int	 msgbuf_flush(struct msgbuf *, struct err *);
char	*msg_unfold(const char *, size_t, size_t *);

/* --- MIME structure and the prepared file (mime.c) ------------------ */

struct dkim;

int	 mime_prepare(int, off_t, off_t, const char *, size_t, int, int,
	    struct dkim *, struct msg *, struct err *);
int	 msg_downgrade(const struct msg *, struct msg *, struct dkim *,
	    struct err *);
void	 msg_date(time_t, char *, size_t);
void	 msg_msgid(time_t, const char *, char *, size_t);
char	*msg_maildomain(const char *);
void	 msg_close(struct msg *);

/* --- addresses (addr.c) --------------------------------------------- */

struct addr {
	char		*spec;		/* SMTP form: local@domain */
	int		 bare;		/* a local name without domain */
};

/* A change msg.c may make to the field an address list came from. */
struct addredit {
	size_t		 off, len;	/* span in the field value */
	char		*text;		/* 8-bit text to encode; NULL: the
					   end of a bare local name */
	int		 comment;	/* text of a comment */
};

struct addrlist {
	struct addr	*v;
	size_t		 n;
	struct addredit	*ed;
	size_t		 ned;
};

int	 addr_valid_arg(const char *, struct err *);
char	*addr_qualify(const char *, const char *);
int	 addr_parse(const char *, const char *, struct addrlist *,
	    struct err *);
void	 addr_free(struct addrlist *);
int	 addr_same(const char *, const char *);

/* Addresses seen, compared as addr_same() does. */
struct addrset {
	char		**slot;
	size_t		  n, cap;
};

int	 addrset_add(struct addrset *, const char *);
void	 addrset_free(struct addrset *);

/* --- aliases (alias.c) --------------------------------------------- */

enum alias_kind {
	ALIAS_ADDR = 0,	/* user@domain */
	ALIAS_LOCAL,	/* a local name: looked up again */
	ALIAS_INCLUDE,	/* the kinds from here on are refused */
	ALIAS_PIPE,
	ALIAS_FILE
};

struct alias_target {
	char		*text;
	enum alias_kind	 kind;
	size_t		 line;
};

struct alias {
	char		*name;
	struct alias_target *target;
	size_t		 ntarget;
	size_t		 line;
};

struct aliases {
	char		*file;
	struct alias	*v;
	size_t		 n;
};

int	 alias_load(struct aliases *, const char *, struct err *);
int	 alias_parse(struct aliases *, const char *, FILE *, struct err *);
size_t	 alias_check(const struct aliases *, void (*)(const char *, ...));
int	 alias_expand(const struct aliases *, const char *, const char *,
	    char ***, size_t *, struct err *);
void	 alias_free(struct aliases *);

/* --- encoded words (rfc2047.c) -------------------------------------- */

size_t	 rfc2047_utf8len(const unsigned char *, size_t);
int	 rfc2047_utf8valid(const char *, size_t);
char	*rfc2047_encode(const char *, size_t);
char	*rfc2047_decode(const char *, size_t, size_t *);

/* --- connections (net.c) -------------------------------------------- */

struct tls;

#define NET_RBUFSZ	16384

struct conn {
	int		 fd;
	struct tls	*tls;		/* NULL while plain */
	struct tls	*tls_ready;	/* set up, no handshake yet */
	int		 timeout;	/* milliseconds, per step */
	char		 rbuf[NET_RBUFSZ];
	size_t		 rpos, rlen;
	char		*wbuf;
	size_t		 wlen, wcap;
	char		 peer[64];	/* numeric address, for messages */
};

int	 net_connect(struct conn *, const char *, unsigned int, int,
	    const char *, struct err *);
int	 net_readline(struct conn *, char *, size_t, size_t *, struct err *);
int	 net_write(struct conn *, const void *, size_t, struct err *);
int	 net_flush(struct conn *, struct err *);
int	 net_pending(struct conn *);
int	 net_wait(struct conn *, short, struct err *);
void	 net_close(struct conn *);

/* --- TLS (tls.c) ---------------------------------------------------- */

int	 tls_prepare(struct conn *, const struct account *, const char *,
	    int, struct err *);
int	 tls_start(struct conn *, const struct account *, const char *, int,
	    struct err *);
void	 tls_print(struct conn *, FILE *);
const char *tls_library(void);
ssize_t	 tls_read(struct conn *, void *, size_t, struct err *);
int	 tls_write(struct conn *, const void *, size_t, struct err *);
void	 tls_close(struct conn *);

/* --- the TLS session cache (tlscache.c) ---------------------------- */

int	 tlscache_get(const char *, const char *, unsigned char **, size_t *);
void	 tlscache_sweep(const char *, time_t);
void	 tlscache_put(const char *, const char *, long long,
	    const unsigned char *, size_t);
void	 tlscache_digest(const char *, char *);

/* --- crypto wrappers (crypto.c) ------------------------------------- */

enum crypto_md {
	CRYPTO_MD5,
	CRYPTO_SHA1,
	CRYPTO_SHA256
};

#define CRYPTO_MAXMD	32	/* the largest digest above, in bytes */

char	*crypto_b64enc(const void *, size_t);
int	 crypto_b64dec(const char *, unsigned char **, size_t *);
size_t	 crypto_mdsize(enum crypto_md);
int	 crypto_equal(const void *, const void *, size_t);
int	 crypto_hash(enum crypto_md, const void *, size_t, unsigned char *);
int	 crypto_hmac(enum crypto_md, const void *, size_t, const void *,
	    size_t, unsigned char *);
int	 crypto_pbkdf2(enum crypto_md, const char *, size_t,
	    const unsigned char *, size_t, unsigned int, unsigned char *);

/* A digest computed piece by piece. */
struct crypto_hash;

struct crypto_hash *crypto_hash_new(enum crypto_md);
void	 crypto_hash_update(struct crypto_hash *, const void *, size_t);
int	 crypto_hash_final(struct crypto_hash *, unsigned char *);

/* A private key for DKIM signatures. */
enum crypto_keytype {
	CRYPTO_KEY_RSA,
	CRYPTO_KEY_ED25519
};

struct crypto_key;

int	 crypto_key_read(FILE *, struct crypto_key **, const char **);
enum crypto_keytype crypto_key_type(const struct crypto_key *);
int	 crypto_key_bits(const struct crypto_key *);
int	 crypto_key_sign(const struct crypto_key *, const void *, size_t,
	    unsigned char **, size_t *);
char	*crypto_key_public(const struct crypto_key *);
void	 crypto_key_free(struct crypto_key *);

/* --- DKIM signatures (dkim.c) ------------------------------------- */

/* The relaxed body canonicalization (RFC 6376 3.4.4), hashed as it goes. */
struct dkim_body {
	struct crypto_hash	*h;
	size_t			 blank;	/* empty lines not yet written */
	int			 wsp;	/* white space not yet written */
	int			 any;	/* something was written */
	size_t			 len;
	char			 buf[8192];
};

struct strbuf;

void	 dkim_body_init(struct dkim_body *);
void	 dkim_body_update(struct dkim_body *, const char *, size_t);
int	 dkim_body_final(struct dkim_body *, unsigned char *);
void	 dkim_canon_header(const char *, size_t, struct strbuf *);
void	 dkim_select(const char *, size_t, const char *const *, size_t,
	    struct strbuf *);
struct dkim *dkim_new(const struct account *, time_t);
void	 dkim_update(struct dkim *, const char *, size_t);
int	 dkim_file(struct dkim *, int, off_t, struct err *);
char	*dkim_final(struct dkim *, size_t *, struct err *);
void	 dkim_free(struct dkim *);
void	 dkim_records(const struct account *, FILE *);

/* --- the SMTP client (smtp.c) --------------------------------------- */

#define SMTP_TEXTLEN	512

struct reply {
	int		 code;		/* 200..599 */
	char		 text[SMTP_TEXTLEN]; /* all lines, joined by " / " */
	size_t		 nlines;
};

enum rcpt_state {
	RCPT_PENDING = 0,
	RCPT_OK,
	RCPT_TEMPFAIL,
	RCPT_PERMFAIL
};

struct rcpt {
	char		*addr;
	enum rcpt_state	 state;
	struct reply	 reply;
};

struct envelope {
	char		*from;
	struct rcpt	*rcpts;
	size_t		 nrcpt;
	char		*dsn_notify;	/* NOTIFY=, wire form, or NULL */
	char		*dsn_ret;	/* RET=: FULL or HDRS, or NULL */
	char		*envid;		/* ENVID=, before xtext, or NULL */
	char		 relay[320];	/* host[address]:port that took it */
	struct reply	 final;		/* the reply to the end of data */
	int		 whole;		/* all or none: no body while a
					   recipient is deferred (-bs) */
	size_t		 rcap;		/* room in rcpts */
	struct addrset	*seen;		/* submit_add_rcpt's index */
};

enum reply_status {
	REPLY_MORE,	/* a continuation line: read on */
	REPLY_DONE,	/* the last line of a reply */
	REPLY_BAD	/* malformed */
};

void	 smtp_reply_init(struct reply *);
enum reply_status smtp_reply_line(struct reply *, const char *, size_t);
struct session;
struct session *smtp_open(const struct account *, const char *,
	    struct err *);
int	 smtp_deliver(struct session *, struct envelope *, const struct msg *,
	    int, struct err *);
int	 smtp_usable(const struct session *);
int	 smtp_reusable(const struct session *, const struct account *);
int	 smtp_retryable(const struct session *);
void	 smtp_close(struct session *);
int	 smtp_send(const struct account *, struct envelope *,
	    const struct msg *, const char *, struct err *);
int	 smtp_check(const struct account *, const char *, FILE *,
	    struct err *);

/* --- the queue (spool.c, dsn.c, queue.c) --------------------------- */

enum errmode {
	ERRMODE_PRINT = 0,	/* -oep: stderr and the exit status */
	ERRMODE_MAIL,		/* -oem, -oew: a DSN to the sender, exit 0 */
	ERRMODE_QUIET		/* -oeq: the exit status only */
};

/* A submission in progress: the spool file being written. */
struct qsub {
	char		 id[32];
	char		*dir;
	int		 fd;		/* the data file, locked */
	int		 committed;	/* renamed into place */
	int		 queue_only;	/* -odq: no delivery attempt now */
	struct session	**keep;		/* in/out: the smarthost connection
					   kept between messages (-bs) */
	int		 smtp;		/* -bs: no exit status tells refusals */
	char		 reason[ERR_MSGLEN]; /* why it stays queued */
	char		 notice[ERR_MSGLEN + 128]; /* what the caller is told */
};

/* What a queue run works on (-q and its selectors). */
struct qsel {
	int		 force;		/* -qf: not yet due too */
	const char	*id;		/* -qI */
	const char	*rcpt;		/* -qR */
	const char	*sender;	/* -qS */
};

/* The spool's files (spool.c): one queued message and its envelope. */
#define QUEUE_IDLEN	16		/* hex digits */

enum qstate {
	Q_PENDING,	/* not delivered yet */
	Q_SENT,		/* accepted by the smarthost: never sent again */
	Q_FAILED	/* refused for good, or expired */
};

struct qrcpt {
	char		*addr;
	enum qstate	 state;
	int		 code;		/* the last reply, 0: none */
	char		*text;
	int		 told;		/* failed, and the caller heard of it */
};

struct qent {
	char		 id[QUEUE_IDLEN + 1];
	int		 version;	/* of the file it was read from */
	char		*conf;		/* the configuration file; v1: NULL */
	int		 cflag;		/* submitted with -C (group dropped) */
	char		*account;
	char		*from;		/* "" for the null sender */
	char		*notify, *ret, *envid;
	char		*msgid;		/* for the log; NULL: none */
	enum errmode	 errmode;
	int		 held;
	int		 dsn;		/* a DSN itself: never bounced */
	long long	 created, next;
	long long	 uid;		/* who submitted it */
	int		 attempts;
	long long	 last;		/* the last attempt, 0: none */
	char		*error;		/* the last error, or NULL */
	long long	 size;
	int		 eightbit;
	long long	 maxline;
	struct qrcpt	*rcpts;
	size_t		 nrcpt;
};

/* A committed message found in the queue directory. */
struct qitem {
	char		 id[QUEUE_IDLEN + 1];
	char		*account;
};

extern const char *const spool_states[];

#ifdef POSTERN_TEST
void	 spool_crash(const char *);
#else
#define spool_crash(name)	do { } while (0)
#endif
int	 spool_valid_id(const char *);
int	 spool_error(struct err *, const char *, const char *);
char	*spool_path(const char *, const char *, const char *, const char *);
char	*spool_clean(const char *);
void	 spool_free(struct qent *);
int	 spool_write(const char *, const struct qent *, struct err *);
int	 spool_commit(const char *, const struct qent *, int, struct err *);
int	 spool_read(const char *, const char *, struct qent *);
int	 spool_create(const char *, char *, size_t);
int	 spool_put(const char *, struct qent *, const char *, size_t,
	    struct err *);
int	 spool_lock(const char *, const char *);
int	 spool_remove(const char *, const char *, int, struct err *);
int	 spool_ids(const char *, time_t, int, struct qitem **, size_t *,
	    struct err *);
void	 spool_items_free(struct qitem *, size_t);

/* DSNs (dsn.c). */
char	*dsn_make(const struct qent *, int, const char *, const char *, time_t,
	    int, size_t *);

/* Submission, delivery, runs, mailq (queue.c). */
int	 queue_writable(const struct account *, struct err *);
int	 queue_open(struct qsub *, const struct account *, struct err *);
int	 queue_submit(struct qsub *, struct conf *, const struct account *,
	    struct envelope *, const struct msg *, enum errmode, const char *,
	    struct err *);
void	 queue_abort(struct qsub *);
int	 queue_run(struct conf *, const struct account *, const struct qsel *,
	    const char *, struct err *);

/* mailq, -bp and the administration of the queue (mailq.c). */
int	 mailq_list(const struct account *, int, long long, FILE *, int *,
	    struct err *);
int	 mailq_admin(const struct account *, const char *, const char *,
	    struct err *);

/* --- importers of other programs' configurations (import.c) -------- */

int	 import_run(const char *, char **, int, FILE *, struct err *);

/* --- the -qINTERVAL runner (interval.c) ---------------------------- */

int	 interval_parse(const char *, long long *);
int	 interval_stopping(void);
int	 interval_run(struct conf *, const struct account *,
	    const struct qsel *, const char *, long long, struct err *);

/* --- privileges (priv.c) ------------------------------------------- */

void	 priv_init(void);
void	 priv_hold(void);
void	 priv_drop(void);
void	 priv_revoke(void);
int	 priv_revoked(void);
gid_t	 priv_group(void);
int	 priv_trusted(void);
int	 priv_shared(void);
void	 priv_child(int);

/* pweval.c */
int	 pweval_run(const char *, int, char **, size_t *, int *);

/* scratch.c */
void	 scratch_dir(const char *);
int	 scratch_open(struct err *);

/* --- one message, prepared and delivered (submit.c) ---------------- */

struct submission {
	struct conf	*conf;
	const struct account *acct;
	struct envelope	*env;		/* in: sender, recipients; out: states */
	const char	*fullname;	/* -F; NULL: from_full_name, GECOS */
	const char	*maildomain;	/* qualifies bare local names */
	const char	*fqdn;		/* the EHLO argument without domain */
	enum errmode	 errmode;	/* -oe: who hears of failures */
	int		 ignoredots;	/* only EOF ends the input */
	int		 extract;	/* -t */
	struct session	**keep;		/* in/out: the smarthost connection
					   kept between messages (-bs) */
	char		 reason[ERR_MSGLEN]; /* out: why it stays queued */
};

int	 submit_message(int, struct submission *, struct err *);
void	 submit_log(const struct envelope *, const struct msg *, int,
	    const struct err *, const char *);
void	 submit_envelope_free(struct envelope *);
void	 submit_add_rcpt(struct envelope *, const char *);
int	 submit_sender(const struct account *, const char *, const char *,
	    char **, struct err *);
void	 submit_msgopts(struct msgopts *, const struct account *,
	    const char *, const char *, const char *);

/* --- the -bs server (server.c) -------------------------------------- */

struct server_opts {
	const char	*conffile;	/* -C, or NULL: the system file */
	const char	*account;	/* -a, or NULL: chosen by MAIL FROM */
	const char	*fullname;	/* -F, or NULL */
	const char	*tag;		/* -L, or NULL: "postern" */
};

int	 server_run(const struct server_opts *, struct err *);

/* --- SASL mechanisms (auth.c) ------------------------------------- */

struct sasl;

const char *sasl_name(enum auth_mech);
enum auth_mech sasl_byname(const char *);
int	 sasl_needs_password(enum auth_mech);
int	 sasl_can_lead(enum auth_mech);
enum auth_mech sasl_choose(const struct account *, const char *,
	    struct err *);
struct sasl *sasl_new(enum auth_mech, const struct account *);
int	 sasl_initial(struct sasl *, unsigned char **, size_t *,
	    struct err *);
int	 sasl_step(struct sasl *, const unsigned char *, size_t,
	    unsigned char **, size_t *, struct err *);
int	 sasl_done(struct sasl *, struct err *);
int	 sasl_token_refused(const struct sasl *);
void	 sasl_free(struct sasl *);

/* --- OAuth2 (oauth2.c) ------------------------------------------- */

enum oauth2_need {
	OAUTH2_CACHED,		/* the cached token if it lasts, else refresh */
	OAUTH2_REFUSED,		/* the server refused the one in password */
	OAUTH2_REFRESH		/* refresh now (--check) */
};

int	 oauth2_enabled(const struct account *);
int	 oauth2_conf(struct account *, struct err *);
int	 oauth2_token(struct account *, enum oauth2_need, struct err *);
int	 oauth2_refused(const unsigned char *, size_t);
int	 oauth2_authorize(struct account *, int, FILE *, FILE *,
	    struct err *);

/* --- libcurl loaded on first use (curlso.c; curlso.h for oauth2.c) - */

int	 curlso_load(struct err *);

/* --- the OAuth2 token store (token.c) ------------------------------ */

struct tokens {
	char		*refresh;
	char		*access;
	long long	 expires;
};

/* A store file: its directory, its name there, and both joined. */
struct tokfile {
	char		*dir;
	char		*name;
	char		*path;
};

void	 token_free(struct tokens *);
void	 token_file(struct tokfile *, const char *, const char *);
void	 token_file_path(struct tokfile *, const char *);
void	 token_file_free(struct tokfile *);
int	 token_read(const char *, int, struct tokens *, struct err *);
int	 token_write(const struct tokfile *, const char *, struct err *);
char	*token_text(const struct tokens *, int);
int	 token_dir(const struct account *, char **, struct err *);
int	 token_lock(const struct tokfile *, struct err *);

/* --- utilities (util.c) --------------------------------------------- */

void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
char	*util_fqdn(void);
int	 util_has8bit(const char *, size_t);
int	 util_writeall(int, const void *, size_t);
int	 util_hexval(int);

/* A growing string, NUL-terminated. */
struct strbuf {
	char	*s;
	size_t	 len, cap;
};

void	 util_stradd(struct strbuf *, const char *, size_t);
void	 util_stradds(struct strbuf *, const char *);

#endif
