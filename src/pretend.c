/*
 * postern -P, --pretend: the effective account, after every default,
 * file, environment and command-line setting, printed in msmtp's
 * --pretend format (msmtp 1.8.23's msmtp_print_conf()), then the keys
 * msmtp does not have, then the msmtp keys postern accepts and ignores,
 * with the reason.  Nothing is sent.  Secrets show as <redacted>
 * (msmtp prints "*").  The values differ from msmtp's only where
 * postern.conf(5), "DIFFERENCES FROM MSMTP", says so.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "extern.h"

#define NOTSET	"(not set)"

static const char *
str(const char *s)
{
	return s != NULL ? s : NOTSET;
}

static const char *
onoff(int v)
{
	return v ? "on" : "off";
}

static const char *
setwhen(int v)
{
	return v == MSG_ON ? "on" : v == MSG_OFF ? "off" : "auto";
}

static void
print_auth(FILE *fp, const struct account *a)
{
	fprintf(fp, "auth = %s\n", a->auth == AUTH_OFF ? "none" :
	    a->auth == AUTH_ON ? "choose" : sasl_name(a->auth));
}

static void
print_fpr(FILE *fp, const struct account *a)
{
	int	i;

	fputs("tls_fingerprint = ", fp);
	if (!a->has_fpr)
		fputs(NOTSET, fp);
	for (i = 0; i < a->has_fpr; i++)
		fprintf(fp, "%s%02X", i ? ":" : "", a->fpr[i]);
	putc('\n', fp);
}

static void
print_timeout(FILE *fp, int t)
{
	if (t <= 0)
		fputs("timeout = off\n", fp);
	else
		fprintf(fp, "timeout = %d second%s\n", t, t > 1 ? "s" : "");
}

/* The connection: msmtp's first block, in its order. */
static void
print_net(FILE *fp, const struct pretend *p)
{
	const struct account	*a = p->acct;

	fprintf(fp, "host = %s\n", str(a->host));
	fprintf(fp, "port = %u\n", conf_port(a));
	fprintf(fp, "source ip = %s\n", str(a->source_ip));
	fprintf(fp, "proxy host = %s\n", NOTSET);
	fprintf(fp, "proxy port = 0\n");
	fprintf(fp, "socket = %s\n", NOTSET);
	print_timeout(fp, a->timeout);
	fprintf(fp, "protocol = smtp\n");
	fprintf(fp, "domain = %s\n", p->domain);
	print_auth(fp, a);
	fprintf(fp, "user = %s\n", str(a->user));
	fprintf(fp, "password = %s\n", a->password != NULL ? "<redacted>" :
	    NOTSET);
	fprintf(fp, "passwordeval = %s\n", str(a->passwordeval));
	fprintf(fp, "ntlmdomain = %s\n", str(a->ntlmdomain));
	fprintf(fp, "tls = %s\n", onoff(a->tls));
	fprintf(fp, "tls_starttls = %s\n", onoff(a->starttls));
	fprintf(fp, "tls_trust_file = %s\n", a->trust_file != NULL ?
	    a->trust_file : "system");
	fprintf(fp, "tls_crl_file = %s\n", str(a->crl_file));
	print_fpr(fp, a);
	fprintf(fp, "tls_key_file = %s\n", str(a->key_file));
	fprintf(fp, "tls_cert_file = %s\n", str(a->cert_file));
	fprintf(fp, "tls_certcheck = %s\n", onoff(a->certcheck));
	fprintf(fp, "tls_min_dh_prime_bits = %s\n", str(a->dh_bits));
	fprintf(fp, "tls_priorities = %s\n", str(a->priorities));
	fprintf(fp, "tls_host_override = %s\n", str(a->host_override));
}

/* The message: msmtp's sendmail-mode block, in its order. */
static void
print_msg(FILE *fp, const struct pretend *p)
{
	const struct account	*a = p->acct;
	const char		*fac;

	fprintf(fp, "auto_from = %s\n", onoff(a->auto_from));
	fprintf(fp, "maildomain = %s\n", str(a->maildomain));
	fprintf(fp, "from = %s\n", p->read_from ? "(read from mail)" :
	    str(p->from));
	fprintf(fp, "allow_from_override = %s\n", onoff(a->from_override));
	fprintf(fp, "set_from_header = %s\n", setwhen(a->set_from));
	fprintf(fp, "set_date_header = %s\n", setwhen(a->set_date));
	fprintf(fp, "remove_bcc_headers = %s\n", onoff(a->remove_bcc));
	fprintf(fp, "undisclosed_recipients = %s\n", onoff(a->undisclosed));
	/* The wire forms, as msmtp prints them: FAILURE,DELAY; HDRS. */
	fprintf(fp, "dsn_notify = %s\n", str(a->dsn_notify));
	fprintf(fp, "dsn_return = %s\n", str(a->dsn_return));
	fprintf(fp, "logfile = %s\n", str(a->logfile));
	fprintf(fp, "logfile_time_format = %s\n", str(a->logtime));
	fac = a->syslog == -1 ? NULL : log_facname(a->syslog);
	fprintf(fp, "syslog = %s\n", str(fac));
	fprintf(fp, "aliases = %s\n", str(a->aliases));
}

/* What msmtp does not have. */
static void
print_own(FILE *fp, const struct account *a)
{
	fprintf(fp, "set_msgid_header = %s\n", setwhen(a->set_msgid));
	fprintf(fp, "from_full_name = %s\n", str(a->from_full_name));
	fprintf(fp, "auth_allow_plaintext = %s\n", onoff(a->plaintext));
	fprintf(fp, "tls_min_version = TLSv1.%d\n", a->tls_min == 13 ? 3 : 2);
	fprintf(fp, "password_file = %s\n", str(a->password_file));
	fprintf(fp, "queue = %s\n", onoff(a->queue));
	fprintf(fp, "queue_dir = %s\n", conf_queuedir(a));
	fprintf(fp, "queue_retry_min = %ds\n", a->retry_min);
	fprintf(fp, "queue_retry_max = %ds\n", a->retry_max);
	fprintf(fp, "queue_lifetime = %ds\n", a->lifetime);
	fprintf(fp, "dkim_domain = %s\n", str(a->dkim_domain));
	fprintf(fp, "dkim_selector = %s\n", str(a->dkim_selector));
	fprintf(fp, "dkim_key_file = %s\n", str(a->dkim_key_file));
	fprintf(fp, "dkim_algorithm = %s\n", str(a->dkim_algorithm));
	fprintf(fp, "dkim_headers = %s\n", str(a->dkim_headers));
}

static void
print_ignored(FILE *fp, const char *key, const char *val)
{
	if (val != NULL)
		fprintf(fp, "ignored: %s %s: %s\n", key, val, conf_why(key));
}

static void
print_source(FILE *fp, const struct conf *c)
{
	switch (c->kind) {
	case CONF_SYSTEM:
		fprintf(fp, "loaded system configuration file %s\n", c->path);
		break;
	case CONF_CMDLINE:
	case CONF_USER:
		fprintf(fp, "loaded user configuration file %s\n", c->path);
		break;
	case CONF_ENV:
		fprintf(fp, "no configuration file: the environment alone\n");
		break;
	}
	if (c->nenv > 0)
		fprintf(fp, "account default: %zu setting%s from POSTERN_* "
		    "environment variables\n", c->nenv, c->nenv == 1 ? "" :
		    "s");
}

void
pretend_print(const struct pretend *p, FILE *fp)
{
	const struct account	*a = p->acct;

	print_source(fp, p->conf);
	if (p->chosen_by != NULL)
		fprintf(fp, "account chosen by envelope from address %s: %s\n",
		    p->chosen_by, a->name);
	if (p->fallback)
		fprintf(fp, "falling back to default account\n");
	fprintf(fp, "using account %s from %s\n", a->name, a->file);
	print_net(fp, p);
	print_msg(fp, p);
	print_own(fp, a);
	print_ignored(fp, "ntlmdomain", a->ntlmdomain);
	print_ignored(fp, "tls_min_dh_prime_bits", a->dh_bits);
	print_ignored(fp, "tls_priorities", a->priorities);
	if (a->has_fpr != 0 && a->has_fpr != 32)
		fprintf(fp, "warning: tls_fingerprint is %s, which is weak\n",
		    a->has_fpr == 16 ? "MD5" : "SHA-1");
	fprintf(fp, "reading recipients from the command line%s\n",
	    p->extract ? " and the mail" : "");
}
