/*
 * RFC 5322 address lists.  Every address that parses can go into an SMTP
 * command: no control character (CR, LF, TAB...), 8-bit only as UTF-8;
 * and the edits msg.c would make stay inside the field.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct addrlist	 l;
	struct err	 e;
	char		*s;
	size_t		 i;

	if (memchr(data, '\0', size) != NULL)
		return 0;		/* msg.c refuses NUL before this */
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(s, "To", &l, &e) == 0) {
		for (i = 0; i < l.n; i++) {
			const unsigned char *c;

			INVARIANT(l.v[i].spec != NULL);
			for (c = (const unsigned char *)l.v[i].spec; *c; c++)
				INVARIANT(*c >= 0x20 && *c != 0x7f);
			INVARIANT(rfc2047_utf8valid(l.v[i].spec,
			    strlen(l.v[i].spec)));
		}
		for (i = 0; i < l.ned; i++)
			INVARIANT(l.ed[i].off + l.ed[i].len <= size);
		addr_free(&l);
	} else
		INVARIANT(e.cls == ERR_DATA);
	free(s);
	return 0;
}
