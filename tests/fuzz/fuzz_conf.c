/*
 * The configuration file.  Whatever parses holds no CR, LF or NUL in any
 * value that can reach the wire or a file name.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "src/extern.h"
#include "fuzz.h"

static void
clean(const char *s)
{
	if (s != NULL)
		INVARIANT(strpbrk(s, "\r\n") == NULL);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct conf	 c;
	struct err	 e;
	FILE		*fp;
	size_t		 i;

	/* An eval line runs a shell command: never a fuzzed one. */
	if (memmem(data, size, "eval", 4) != NULL)
		return 0;
	if ((fp = fmemopen((void *)(uintptr_t)data, size, "r")) == NULL)
		return 0;
	if (conf_parse(&c, "fuzz.conf", fp, &e) == 0) {
		for (i = 0; i < c.nacct; i++) {
			struct account *a = &c.accts[i];

			clean(a->host);
			clean(a->user);
			clean(a->password);
			clean(a->from);
			clean(a->domain);
			clean(a->maildomain);
			clean(a->dsn_notify);
			INVARIANT(a->port <= 65535);
		}
		conf_free(&c);
	} else
		INVARIANT(e.cls == ERR_CONFIG && strchr(e.msg, '\n') == NULL);
	fclose(fp);
	return 0;
}
