/*
 * configure's probe for OAuth2 (src/oauth2.c): libcurl with HTTPS and
 * json-c, both usable.  Not a compat replacement: nothing replaces them.
 */
#include <curl/curl.h>
#include <json-c/json.h>

int
main(void)
{
	curl_version_info_data	*v;
	struct json_object	*o;
	const char *const	*p;
	int			 https = 0;

	v = curl_version_info(CURLVERSION_NOW);
	for (p = v->protocols; p != NULL && *p != NULL; p++)
		if ((*p)[0] == 'h' && (*p)[1] == 't' && (*p)[2] == 't' &&
		    (*p)[3] == 'p' && (*p)[4] == 's' && (*p)[5] == '\0')
			https = 1;
	if ((o = json_tokener_parse("{\"a\":1}")) == NULL)
		return 1;
	json_object_put(o);
	return https ? 0 : 1;
}
