/* graph.c — rendering the text generation graph.pbtxt from options (OVMS's pull layout) and
 * writing it atomically. Reading it back is config.c's job. */
#include "repo/graph.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/utf8.h"

repo_graph_opts repo_graph_defaults(void) {
    repo_graph_opts o = {
        .models_path = "./",
        .device = "CPU",
        .max_num_seqs = 256,
        .enable_prefix_caching = 1,
        .cache_size = 10,
        .max_num_batched_tokens = -1,
        .dynamic_split_fuse = 1,
    };
    return o;
}

/* Appends s as a pbtxt string in `quote` quotes: the quote, backslash and control bytes escaped;
 * other bytes (UTF-8 included) as they are. */
static void put_string(lm_buf *b, const char *s, char quote) {
    buf_append_char(b, quote);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == (unsigned char)quote || c == '\\') {
            buf_append_char(b, '\\');
            buf_append_char(b, (char)c);
        } else if (c == '\n') {
            buf_append_str(b, "\\n");
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\%03o", c);
        } else {
            buf_append_char(b, (char)c);
        }
    }
    buf_append_char(b, quote);
}

static int valid_utf8(const char *s) {
    return !s || utf8_is_valid(s, strlen(s));
}

/* plugin_config: the given object plus MAX_PROMPT_LEN, KV_CACHE_PRECISION and CACHE_DIR; NULL
 * text when it would be empty. */
static lm_status plugin_json(const repo_graph_opts *o, char **text, lm_error *err) {
    *text = NULL;
    json_t *obj;
    if (o->plugin_config && *o->plugin_config) {
        json_error_t je;
        obj = json_loads(o->plugin_config, JSON_REJECT_DUPLICATES, &je);
        if (!obj)
            return err_set(err, LM_ERR_INVALID, "--plugin_config: not valid JSON: %s (at column %d)",
                           je.text, je.column);
        if (!json_is_object(obj)) {
            json_decref(obj);
            return err_set(err, LM_ERR_INVALID, "--plugin_config: expected a JSON object, as "
                           "'{\"KV_CACHE_PRECISION\": \"u8\"}'");
        }
    } else {
        obj = json_object();
        if (!obj) return err_set(err, LM_ERR_NOMEM, "out of memory");
    }
    if (o->max_prompt_len > 0) json_object_set_new(obj, "MAX_PROMPT_LEN", json_integer(o->max_prompt_len));
    if (o->kv_cache_precision) json_object_set_new(obj, "KV_CACHE_PRECISION", json_string(o->kv_cache_precision));
    if (o->cache_dir) json_object_set_new(obj, "CACHE_DIR", json_string(o->cache_dir));
    if (json_object_size(obj) > 0) {
        *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!*text) {
            json_decref(obj);
            return err_set(err, LM_ERR_NOMEM, "out of memory");
        }
    }
    json_decref(obj);
    return LM_OK;
}

lm_status repo_graph_render(const repo_graph_opts *o, lm_buf *out, lm_error *err) {
    if (!o->models_path || !*o->models_path)
        return err_set(err, LM_ERR_INVALID, "graph: models_path must not be empty");
    if (o->max_num_seqs < 1 || o->max_num_seqs > 65536)
        return err_set(err, LM_ERR_INVALID, "--max_num_seqs: %lld is not in [1, 65536]",
                       (long long)o->max_num_seqs);
    if (o->cache_size < 0)
        return err_set(err, LM_ERR_INVALID, "--cache_size: %lld is negative", (long long)o->cache_size);
    const char *strs[] = {o->models_path, o->device, o->kv_cache_precision, o->cache_dir,
                          o->tool_parser, o->reasoning_parser};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!valid_utf8(strs[i])) return err_set(err, LM_ERR_INVALID, "graph: '%s' is not valid UTF-8", strs[i]);
    char *plugin = NULL;
    LM_TRY(plugin_json(o, &plugin, err));

    buf_printf(out, "# File created with: lmserve %s\n", LM_VERSION);
    buf_append_str(out,
                   "# OVMS_GRAPH_QUEUE_MAX_SIZE: AUTO\n"
                   "input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
                   "output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"
                   "\n"
                   "node: {\n"
                   "  name: \"LLMExecutor\"\n"
                   "  calculator: \"HttpLLMCalculator\"\n"
                   "  input_stream: \"LOOPBACK:loopback\"\n"
                   "  input_stream: \"HTTP_REQUEST_PAYLOAD:input\"\n"
                   "  input_side_packet: \"LLM_NODE_RESOURCES:llm\"\n"
                   "  input_side_packet: \"LLM_NODE_EXECUTION_CONTEXTS:llm_ctx\"\n"
                   "  output_stream: \"LOOPBACK:loopback\"\n"
                   "  output_stream: \"HTTP_RESPONSE_PAYLOAD:output\"\n"
                   "  input_stream_info: {\n"
                   "    tag_index: 'LOOPBACK:0',\n"
                   "    back_edge: true\n"
                   "  }\n"
                   "  node_options: {\n"
                   "    [type.googleapis.com / mediapipe.LLMCalculatorOptions]: {\n");
    buf_printf(out, "      max_num_seqs: %lld,\n", (long long)o->max_num_seqs);
    if (o->device) {
        buf_append_str(out, "      device: ");
        put_string(out, o->device, '"');
        buf_append_str(out, ",\n");
    }
    buf_append_str(out, "      models_path: ");
    put_string(out, o->models_path, '"');
    buf_append_str(out, ",\n");
    if (plugin) {
        /* single quotes, as OVMS writes it, so the JSON's double quotes need no escapes */
        buf_append_str(out, "      plugin_config: ");
        put_string(out, plugin, '\'');
        buf_append_str(out, ",\n");
    }
    buf_printf(out, "      enable_prefix_caching: %s,\n", o->enable_prefix_caching ? "true" : "false");
    buf_printf(out, "      cache_size: %lld,\n", (long long)o->cache_size);
    if (o->max_num_batched_tokens > 0)
        buf_printf(out, "      max_num_batched_tokens: %lld,\n", (long long)o->max_num_batched_tokens);
    if (!o->dynamic_split_fuse) buf_append_str(out, "      dynamic_split_fuse: false,\n");
    if (o->reasoning_parser) {
        buf_append_str(out, "      reasoning_parser: ");
        put_string(out, o->reasoning_parser, '"');
        buf_append_str(out, ",\n");
    }
    if (o->tool_parser) {
        buf_append_str(out, "      tool_parser: ");
        put_string(out, o->tool_parser, '"');
        buf_append_str(out, ",\n");
    }
    buf_append_str(out,
                   "    }\n"
                   "  }\n"
                   "  input_stream_handler {\n"
                   "    input_stream_handler: \"SyncSetInputStreamHandler\",\n"
                   "    options {\n"
                   "      [mediapipe.SyncSetInputStreamHandlerOptions.ext] {\n"
                   "        sync_set {\n"
                   "          tag_index: \"LOOPBACK:0\"\n"
                   "        }\n"
                   "      }\n"
                   "    }\n"
                   "  }\n"
                   "}\n");
    free(plugin);
    if (out->oom) return err_set(err, LM_ERR_NOMEM, "out of memory");
    return LM_OK;
}

lm_status repo_graph_write(const char *dir, const repo_graph_opts *o, lm_error *err) {
    lm_buf text = {0};
    lm_status s = repo_graph_render(o, &text, err);
    if (s != LM_OK) {
        buf_fini(&text);
        return s;
    }
    lm_buf path = {0}, tmp = {0};
    buf_printf(&path, "%s/graph.pbtxt", dir);
    /* A fixed name, not mkstemp's: a pull killed between creating and renaming it leaves it
     * behind, and the next run (which always writes the graph) takes it over. */
    buf_printf(&tmp, "%s/.graph.pbtxt.part", dir);
    if (path.oom || tmp.oom) {
        s = err_set(err, LM_ERR_NOMEM, "out of memory");
        goto done;
    }
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        s = err_set(err, LM_ERR_IO, "cannot create %s: %s", path.data, strerror(errno));
        goto done;
    }
    size_t off = 0;
    ssize_t w = 0;
    while (off < text.len && (w = write(fd, text.data + off, text.len - off)) > 0) off += (size_t)w;
    mode_t mask = umask(0);
    umask(mask);
    int ok = off == text.len && fchmod(fd, 0666 & ~mask) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp.data, path.data) != 0) {
        if (ok) saved = errno;
        unlink(tmp.data);
        s = err_set(err, LM_ERR_IO, "cannot write %s: %s", path.data, strerror(saved));
    }
done:
    buf_fini(&text);
    buf_fini(&path);
    buf_fini(&tmp);
    return s;
}
