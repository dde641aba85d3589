/*
 * The SMTP reply parser: any bytes, cut at LF into lines.  A reply that
 * parses has a code from 200 to 599 and printable text only (it goes into
 * error messages).
 */
#include "config.h"

#include <string.h>

#include "src/extern.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct reply		 r;
	enum reply_status	 st = REPLY_MORE;
	const char		*p = (const char *)data, *end = p + size, *lf;
	size_t			 i;

	smtp_reply_init(&r);
	while (p < end && st == REPLY_MORE) {
		lf = memchr(p, '\n', (size_t)(end - p));
		lf = lf != NULL ? lf + 1 : end;
		st = smtp_reply_line(&r, p, (size_t)(lf - p));
		p = lf;
	}
	if (st == REPLY_BAD || r.nlines == 0)
		return 0;
	INVARIANT(r.code >= 200 && r.code <= 599);
	INVARIANT(r.nlines >= 1);
	for (i = 0; r.text[i] != '\0'; i++)
		INVARIANT(r.text[i] >= 0x20 && r.text[i] < 0x7f);
	return 0;
}
