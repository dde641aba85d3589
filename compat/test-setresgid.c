#define _GNU_SOURCE 1
#include <unistd.h>

int
main(void)
{
	gid_t g = getgid();

	return setresgid(g, g, g) == -1;
}
