/*
 * A test driver, not installed: msg_read on standard input with the
 * options below, then the prepared file on standard output, preceded by
 * one line per -t recipient ("rcpt: ADDR") and a line "--".  With -d the
 * file is then downgraded (msg_downgrade) as for a server without
 * 8BITMIME.  The oracle (tests/oracle/) and the benchmark drive it.
 *
 * usage: msgprep [-dit] [-F name] [-f sender] [-m maildomain] [-n now]
 *	[-o set-from|set-date|set-msgid|keep-bcc|undisclosed|from-on]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/extern.h"

static void
option(struct msgopts *o, const char *s)
{
	if (strcmp(s, "no-from") == 0)
		o->set_from = MSG_OFF;
	else if (strcmp(s, "from-on") == 0)
		o->set_from = MSG_ON;
	else if (strcmp(s, "no-date") == 0)
		o->set_date = MSG_OFF;
	else if (strcmp(s, "no-msgid") == 0)
		o->set_msgid = MSG_OFF;
	else if (strcmp(s, "keep-bcc") == 0)
		o->keep_bcc = 1;
	else if (strcmp(s, "undisclosed") == 0)
		o->undisclosed = 1;
	else {
		fprintf(stderr, "msgprep: unknown -o %s\n", s);
		exit(2);
	}
}

int
main(int argc, char *argv[])
{
	struct msgopts	 o;
	struct msg	 m, d;
	struct err	 e;
	const char	*errstr;
	char		 buf[65536];
	ssize_t		 n;
	size_t		 i;
	int		 ch, down = 0;

	memset(&o, 0, sizeof(o));
	memset(&e, 0, sizeof(e));
	o.sender = "sender@example.org";
	o.maildomain = "example.org";
	o.now = 1700000000;
	o.fullname = "Test User";
	while ((ch = getopt(argc, argv, "dF:f:im:n:o:t")) != -1) {
		switch (ch) {
		case 'd':
			down = 1;
			break;
		case 'F':
			o.fullname = optarg;
			break;
		case 'f':
			o.sender = optarg;
			break;
		case 'i':
			o.ignoredots = 1;
			break;
		case 'm':
			o.maildomain = optarg;
			break;
		case 'n':
			o.now = (time_t)strtonum(optarg, 0, 1LL << 40, &errstr);
			if (errstr != NULL)
				return 2;
			break;
		case 'o':
			option(&o, optarg);
			break;
		case 't':
			o.extract = 1;
			break;
		default:
			return 2;
		}
	}
	if (msg_read(STDIN_FILENO, &o, &m, &e) == -1) {
		fprintf(stderr, "msgprep: %s\n", e.msg);
		return e.cls == ERR_DATA ? 65 : 1;
	}
	for (i = 0; i < m.nrcpt; i++)
		printf("rcpt: %s\n", m.rcpts[i]);
	printf("-- eightbit=%d maxline=%zu size=%lld\n", m.eightbit,
	    m.maxline, (long long)m.size);
	fflush(stdout);
	if (down) {
		if (msg_downgrade(&m, &d, NULL, &e) == -1) {
			fprintf(stderr, "msgprep: %s\n", e.msg);
			return 1;
		}
		msg_close(&m);
		m = d;
	}
	while ((n = read(m.fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	msg_close(&m);
	return fflush(stdout) == 0 && n == 0 ? 0 : 1;
}
