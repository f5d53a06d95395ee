/* ssetest.h — reads back SSE text as the agent protocols write it ("event: X\ndata: {...}\n\n")
 * for the writer tests: each event must have both lines, a name equal to its data's "type", and
 * data that is one JSON object. */
#ifndef LM_TESTS_SSETEST_H
#define LM_TESTS_SSETEST_H

#include <jansson.h>
#include <string.h>

/* The events of `sse` as a JSON array of their data objects, or NULL when the framing is wrong. */
static inline json_t *ssetest_parse(const char *sse) {
    json_t *events = json_array();
    const char *p = sse;
    while (*p) {
        if (strncmp(p, "event: ", 7) != 0) goto bad;
        const char *name = p + 7, *nl = strchr(name, '\n');
        if (!nl || strncmp(nl + 1, "data: ", 6) != 0) goto bad;
        const char *data = nl + 7, *end = strstr(data, "\n\n");
        if (!end) goto bad;
        json_t *j = json_loadb(data, (size_t)(end - data), 0, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (!json_is_object(j) || !type || strlen(type) != (size_t)(nl - name) ||
            strncmp(type, name, (size_t)(nl - name)) != 0) {
            json_decref(j);
            goto bad;
        }
        json_array_append_new(events, j);
        p = end + 2;
    }
    return events;
bad:
    json_decref(events);
    return NULL;
}

/* The "type" of event i. */
static inline const char *ssetest_type(json_t *events, size_t i) {
    return json_string_value(json_object_get(json_array_get(events, i), "type"));
}

#endif
