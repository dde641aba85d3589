#define _GNU_SOURCE 1
#include <string.h>

int
main(void)
{
	char buf[4] = "a";

	return strlcat(buf, "bcd", sizeof(buf)) != 4;
}
