/*
 * Unit tests for the configuration parser: msmtprc syntax, inheritance
 * through defaults and parents, quoting, and the exact one-line error for
 * every kind of bad input.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/extern.h"
#include "t.h"

static int
parse(struct conf *c, const char *text, struct err *e)
{
	FILE	*fp;
	int	 rc;

	fp = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	if (fp == NULL)
		abort();
	memset(e, 0, sizeof(*e));
	rc = conf_parse(c, "t.conf", fp, e);
	fclose(fp);
	return rc;
}

/* Inputs that must be refused, with the exact message. */
static const struct {
	const char	*text;
	const char	*msg;
} bad[] = {
	{ "hots example.org\n", "t.conf:1: unknown key 'hots'" },
	{ "account a\nport 0\n", "t.conf:2: port: invalid value '0'" },
	{ "account a\nport 65536\n", "t.conf:2: port: invalid value '65536'" },
	{ "port\n", "t.conf:1: port: invalid value ''" },
	{ "tls maybe\n", "t.conf:1: tls: invalid value 'maybe'" },
	{ "timeout -1\n", "t.conf:1: timeout: invalid value '-1'" },
	{ "auth ntlm\n", "t.conf:1: auth: unsupported mechanism 'ntlm'" },
	{ "account\n", "t.conf:1: account needs a name" },
	{ "account a\naccount a\n", "t.conf:2: account 'a' is defined twice" },
	{ "account a : b\n", "t.conf:1: account 'b' is not defined (yet)" },
	{ "host \"x\n", "t.conf:1: unterminated quoted value" },
	{ "host \"x\" y\n", "t.conf:1: text after the closing quote" },
	{ "host x\r\n", "t.conf:1: carriage return in line" },
	{ "\n\nprotocol lmtp\n", "t.conf:3: protocol lmtp is not supported "
	    "by postern: LMTP hands mail to a local delivery agent, and "
	    "postern only submits to a smarthost over SMTP" },
	{ "protocol esmtp\n", "t.conf:1: protocol: invalid value 'esmtp'" },
	{ "eval\n", "t.conf:1: eval needs a command" },
	{ "eval false\n", "t.conf:1: eval: the command failed" },
	{ "eval true\n", "t.conf:1: eval: the command printed nothing" },
	{ "eval echo eval echo host x\n", "t.conf:1: eval: the command "
	    "printed another eval line" },
	{ "eval echo tls maybe\n", "t.conf:1: tls: invalid value 'maybe'" },
	{ "eval printf 'host a\\r'\n", "t.conf:1: eval: the command printed "
	    "a NUL or carriage return" },
	{ "proxy_host 127.0.0.1\n", "t.conf:1: key 'proxy_host' is not "
	    "supported by postern: SOCKS proxies are not supported, and "
	    "ignoring one would send mail past it" },
	{ "socket /run/x\n", "t.conf:1: key 'socket' is not supported by "
	    "postern: local sockets are not supported, and ignoring one would "
	    "send mail to host instead" },
	{ "add_missing_date_header maybe\n",
	    "t.conf:1: add_missing_date_header: invalid value 'maybe'" },
	{ "tls_fingerprint 01:02:03\n", "t.conf:1: tls_fingerprint: not a "
	    "SHA-256 fingerprint (32 hex bytes, as AB:CD:...; SHA-1's 20 and "
	    "MD5's 16 are accepted too)" },
	{ "queue maybe\n", "t.conf:1: queue: invalid value 'maybe'" },
	{ "queue_retry_min 5x\n",
	    "t.conf:1: queue_retry_min: invalid value '5x'" },
	{ "queue_retry_max 0\n",
	    "t.conf:1: queue_retry_max: invalid value '0'" },
	{ "queue_lifetime 1dd\n",
	    "t.conf:1: queue_lifetime: invalid value '1dd'" },
	{ "queue_lifetime 400d\n",
	    "t.conf:1: queue_lifetime: invalid value '400d'" },
	{ "queue_lifetime\n", "t.conf:1: queue_lifetime: invalid value ''" },
};

static void
test_bad(void)
{
	struct conf	c;
	struct err	e;
	size_t		i;

	for (i = 0; i < NELEM(bad); i++) {
		CHECK(parse(&c, bad[i].text, &e) == -1 && e.cls == ERR_CONFIG,
		    "accepted: %s", bad[i].text);
		CHECK_STR(e.msg, bad[i].msg, bad[i].text);
		conf_free(&c);
	}
}

static void
test_nul(void)
{
	static const char	text[] = "host a\0b\n";
	struct conf		c;
	struct err		e;
	FILE			*fp;

	fp = fmemopen((void *)(uintptr_t)text, sizeof(text) - 1, "r");
	CHECK(conf_parse(&c, "t.conf", fp, &e) == -1, "NUL accepted");
	CHECK_STR(e.msg, "t.conf:1: NUL byte in line", "NUL");
	fclose(fp);
	conf_free(&c);
}

static void
test_inherit(void)
{
	struct conf	 c;
	struct err	 e;
	struct account	*a;

	CHECK(parse(&c,
	    "# a comment\n"
	    "defaults\n"
	    "  tls_trust_file /ca.pem\n"
	    "  timeout 30\n"
	    "account work\n"
	    "host smtp.work.example\n"
	    "port 587\n"
	    "from me@work.example\n"
	    "auth plain\n"
	    "user \"me \\\"quoted\\\"\"\n"
	    "password \"  spaced  \"\n"
	    "account home : work\n"
	    "host smtp.home.example\n"
	    "from me@home.example\n"
	    "tls_starttls off\n"
	    "port\t465\n"
	    "account default : home\n", &e) == 0, "parse: %s", e.msg);
	CHECK(c.nacct == 3, "nacct %zu", c.nacct);
	a = conf_account(&c, "work", NULL, &e);
	CHECK(a != NULL && a->port == 587 && a->timeout == 30 &&
	    a->auth == AUTH_PLAIN && a->tls == 1 && a->starttls == 1,
	    "work settings");
	CHECK_STR(a->trust_file, "/ca.pem", "inherited from defaults");
	CHECK_STR(a->user, "me \"quoted\"", "quoted user");
	CHECK_STR(a->password, "  spaced  ", "quoted password");
	a = conf_account(&c, NULL, NULL, &e);
	CHECK(a != NULL && strcmp(a->name, "default") == 0 &&
	    a->starttls == 0 && conf_port(a) == 465, "default account");
	CHECK_STR(a->host, "smtp.home.example", "default inherits home");
	CHECK_STR(a->user, "me \"quoted\"", "home inherits work");
	/* msmtp: the account whose from matches the envelope sender. */
	a = conf_account(&c, NULL, "ME@WORK.EXAMPLE", &e);
	CHECK(a != NULL && strcmp(a->name, "work") == 0, "from match");
	CHECK(conf_account(&c, "nosuch", NULL, &e) == NULL &&
	    e.cls == ERR_CONFIG, "unknown account");
	CHECK_STR(e.msg, "t.conf: no account 'nosuch'", "unknown account");
	conf_free(&c);
}

static void
test_defaults(void)
{
	struct conf	 c;
	struct err	 e;
	struct account	*a;

	/* No account line: the keys describe the account "default". */
	CHECK(parse(&c, "host mx.example\n", &e) == 0, "parse");
	a = conf_account(&c, NULL, NULL, &e);
	CHECK(a != NULL && a->tls == 1 && a->starttls == 1 &&
	    a->timeout == 60 && a->auth == AUTH_OFF && conf_port(a) == 25,
	    "postern's defaults: tls on, timeout 60, port 25");
	conf_free(&c);

	CHECK(parse(&c, "account a\nport 25\n", &e) == 0, "parse");
	CHECK(conf_account(&c, "a", NULL, &e) == NULL, "no host accepted");
	CHECK_STR(e.msg, "t.conf:1: account 'a' has no host", "no host");
	conf_free(&c);

	CHECK(parse(&c, "account a\nhost h\n", &e) == 0, "parse");
	CHECK(conf_account(&c, NULL, NULL, &e) == NULL, "no default");
	CHECK_STR(e.msg, "t.conf: no account 'default' and none chosen "
	    "with -a", "no default");
	conf_free(&c);

	CHECK(parse(&c, "host h\ntimeout off\nauth\ntls\n", &e) == 0,
	    "parse");
	a = conf_account(&c, NULL, NULL, &e);
	CHECK(a != NULL && a->timeout == 0 && a->auth == AUTH_ON &&
	    a->tls == 1, "bare keys mean on");
	conf_free(&c);

	CHECK(parse(&c, "host h\n", &e) == 0, "parse");
	a = conf_account(&c, NULL, NULL, &e);
	CHECK(a != NULL && a->queue == 1 && a->retry_min == 300 &&
	    a->retry_max == 4 * 3600 && a->lifetime == 5 * 86400 &&
	    strcmp(conf_queuedir(a), SPOOLDIR) == 0, "queue defaults");
	conf_free(&c);

	CHECK(parse(&c, "queue_retry_min 90\nqueue_retry_max 2h\n"
	    "queue_lifetime 3d\nqueue off\nqueue_dir /q\naccount a\n"
	    "host h\nqueue_retry_min 30s\n", &e) == 0, "parse");
	a = conf_account(&c, "a", NULL, &e);
	CHECK(a != NULL && a->queue == 0 && a->retry_min == 30 &&
	    a->retry_max == 7200 && a->lifetime == 3 * 86400 &&
	    strcmp(conf_queuedir(a), "/q") == 0,
	    "durations with s, m, h, d; inherited from the defaults");
	conf_free(&c);
}

/* A file holding a password must be readable by its owner only. */
static void
test_perms(void)
{
	char		 path[] = "/tmp/t_conf.XXXXXX";
	struct conf	 c;
	struct err	 e;
	char		 want[256];
	int		 fd;

	if ((fd = mkstemp(path)) == -1)
		abort();
	if (write(fd, "host h\npassword secret\n", 23) != 23)
		abort();
	close(fd);
	CHECK(chmod(path, 0600) == 0 && conf_load(&c, path, 1, &e) == 0,
	    "0600 refused: %s", e.msg);
	conf_free(&c);
	CHECK(chmod(path, 0640) == 0 && conf_load(&c, path, 1, &e) == -1 &&
	    e.cls == ERR_CONFIG, "0640 accepted");
	(void)snprintf(want, sizeof(want), "%s: holds a password but is "
	    "readable by others (mode 640; chmod 600 it)", path);
	CHECK_STR(e.msg, want, "0640");
	/* Without a password, the mode does not matter. */
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd == -1 || write(fd, "host h\n", 7) != 7)
		abort();
	close(fd);
	CHECK(chmod(path, 0644) == 0 && conf_load(&c, path, 1, &e) == 0,
	    "0644 without password: %s", e.msg);
	conf_free(&c);
	unlink(path);
}

/* The msmtp keys postern used to refuse, and the account choice. */
static void
test_msmtp(void)
{
	struct conf	 c;
	struct err	 e;
	struct account	*a;
	int		 how;

	CHECK(parse(&c, "eval echo host from-eval\nprotocol smtp\n"
	    "auto_from on\nadd_missing_from_header off\n"
	    "add_missing_date_header\ntls_fingerprint "
	    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\n"
	    "tls_priorities NORMAL\ntls_crl_file /crl.pem\n", &e) == 0,
	    "parse: %s", e.msg);
	a = conf_account(&c, NULL, NULL, &e);
	CHECK(a != NULL && strcmp(a->host, "from-eval") == 0 &&
	    a->auto_from == 1 && a->set_from == MSG_OFF &&
	    a->set_date == MSG_AUTO && a->has_fpr == 20 &&
	    a->fpr[19] == 0x33 && strcmp(a->priorities, "NORMAL") == 0 &&
	    strcmp(a->crl_file, "/crl.pem") == 0, "msmtp's keys");
	conf_free(&c);

	/* msmtp's order: file order, exact or pattern, then user+detail. */
	CHECK(parse(&c, "account a\nhost a\nfrom *@example.org\n"
	    "account b\nhost b\nfrom me@example.org\n"
	    "account c\nhost c\nfrom you@example.net\n"
	    "account default : c\n", &e) == 0, "parse: %s", e.msg);
	a = conf_choose(&c, NULL, "me@example.org", &how, &e);
	CHECK(a != NULL && strcmp(a->name, "a") == 0 && how == 1,
	    "the first match wins, pattern or not");
	a = conf_choose(&c, NULL, "You+lists@EXAMPLE.net", &how, &e);
	CHECK(a != NULL && strcmp(a->name, "c") == 0 && how == 1,
	    "user+detail matches user, any case");
	a = conf_choose(&c, NULL, "me@example.com", &how, &e);
	CHECK(a != NULL && strcmp(a->name, "default") == 0 && how == 2,
	    "no match: the default");
	a = conf_choose(&c, "b", "me@example.net", &how, &e);
	CHECK(a != NULL && strcmp(a->name, "b") == 0 && how == 0, "-a wins");
	conf_free(&c);
}

int
main(void)
{
	test_perms();
	test_bad();
	test_nul();
	test_inherit();
	test_defaults();
	test_msmtp();
	return t_done("t_conf");
}
