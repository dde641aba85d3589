#define _GNU_SOURCE 1
#include <stdlib.h>

int
main(void)
{
	return getprogname() == NULL;
}
