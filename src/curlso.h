/*
 * The libcurl functions that src/oauth2.c calls, resolved by src/curlso.c
 * when OAuth2 first needs them instead of linked into postern: the only
 * header besides extern.h, since these types are libcurl's and nothing
 * else may see them.  Include it in place of <curl/curl.h>; the curl_*
 * calls of the including file then go through curlso, which curlso_load()
 * (extern.h) must have filled first.
 */
#ifndef POSTERN_CURLSO_H
#define POSTERN_CURLSO_H

/* curl_easy_setopt and _getinfo are called through pointers, not macros. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

struct curlso {
	CURLcode	 (*global_init)(long);
	CURL		*(*easy_init)(void);
	CURLcode	 (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	 (*easy_perform)(CURL *);
	CURLcode	 (*easy_getinfo)(CURL *, CURLINFO, ...);
	void		 (*easy_cleanup)(CURL *);
	const char	*(*easy_strerror)(CURLcode);
	char		*(*easy_escape)(CURL *, const char *, int);
	char		*(*easy_unescape)(CURL *, const char *, int, int *);
	void		 (*free)(void *);
	curl_version_info_data *(*version_info)(CURLversion);
};

extern struct curlso	curlso;

/* curl.h's own macros for these two keep the three-argument check only. */
#undef curl_easy_setopt
#undef curl_easy_getinfo

#define curl_global_init	curlso.global_init
#define curl_easy_init		curlso.easy_init
#define curl_easy_setopt	curlso.easy_setopt
#define curl_easy_perform	curlso.easy_perform
#define curl_easy_getinfo	curlso.easy_getinfo
#define curl_easy_cleanup	curlso.easy_cleanup
#define curl_easy_strerror	curlso.easy_strerror
#define curl_easy_escape	curlso.easy_escape
#define curl_easy_unescape	curlso.easy_unescape
#define curl_free		curlso.free
#define curl_version_info	curlso.version_info

#endif /* POSTERN_CURLSO_H */
