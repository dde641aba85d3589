/* strlcat(3): append with truncation, returns the length it tried for. */
#include "config.h"

#if !HAVE_STRLCAT
#include <string.h>

size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t	dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + strlcpy(dst + dlen, src, size - dlen);
}
#endif
