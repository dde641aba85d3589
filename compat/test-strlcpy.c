#define _GNU_SOURCE 1
#include <string.h>

int
main(void)
{
	char buf[4];

	return strlcpy(buf, "abcd", sizeof(buf)) != 4;
}
