/* proto.c — helpers the Responses and Anthropic layers share (proto.h): SSE events with a name,
 * optional fields. */
#include "server/proto.h"

#include <stdlib.h>
#include <string.h>

void proto_sse_event(lm_buf *out, const char *name, json_t *data) {
    if (!data) {
        out->oom = 1;
        return;
    }
    char *s = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!s) {
        out->oom = 1;
        return;
    }
    /* a compact dump has no raw newline, so one data: line frames the event */
    buf_append_str(out, "event: ");
    buf_append_str(out, name);
    buf_append_str(out, "\ndata: ");
    buf_append_str(out, s);
    buf_append_str(out, "\n\n");
    free(s);
}

json_t *proto_field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return (v && !json_is_null(v)) ? v : NULL;
}
