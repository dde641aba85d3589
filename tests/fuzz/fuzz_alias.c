/*
 * The aliases file, then the expansion of every name it defines: what
 * parses expands without a crash or a loop, and every address that comes
 * out can go into an SMTP command (no CR, LF or other control character).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/extern.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct aliases	 al;
	struct err	 e;
	FILE		*fp;
	char		**out;
	size_t		 i, k, n;

	if ((fp = fmemopen((void *)(uintptr_t)data, size, "r")) == NULL)
		return 0;
	if (alias_parse(&al, "fuzz.aliases", fp, &e) == 0) {
		for (i = 0; i < al.n && i < 64; i++) {
			if (alias_expand(&al, al.v[i].name, "example.org", &out,
			    &n, &e) == -1)
				continue;
			for (k = 0; k < n; k++) {
				const unsigned char *c;

				for (c = (const unsigned char *)out[k]; *c; c++)
					INVARIANT(*c >= 0x20 && *c != 0x7f);
				free(out[k]);
			}
			free(out);
		}
		alias_free(&al);
	} else
		INVARIANT(e.cls == ERR_CONFIG && strchr(e.msg, '\n') == NULL);
	fclose(fp);
	return 0;
}
