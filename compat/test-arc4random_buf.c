#define _GNU_SOURCE 1
#include <stdlib.h>

int
main(void)
{
	char buf[16];

	arc4random_buf(buf, sizeof(buf));
	return 0;
}
