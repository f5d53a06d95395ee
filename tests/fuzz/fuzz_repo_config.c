/* tests/fuzz/fuzz_repo_config.c — libFuzzer target for the model repository's config.json
 * (src/repo/config.c: model_config_list, mediapipe_config_list, base_path and graph_path
 * resolution, and the graph.pbtxt each entry names).
 *
 * The input is split at lines "#lmfuzz#" into config.json and, optionally, graph.pbtxt; both are
 * written to a scratch folder (which also holds an empty model.gguf a graph may name) and the
 * configuration is loaded with repo_load_config(). A refusal must carry a message; an accepted one
 * must give named models with paths, unique names, and well-formed warnings. */
#include "fuzzutil.h"

#include "repo/config.h"

/* What an accepted repo_config promises. */
static void check_config(const repo_config *c) {
    for (size_t i = 0; i < c->n_models; i++) {
        const repo_model *m = &c->models[i];
        FUZZ_CHECK(m->cfg.name && m->cfg.name[0] && m->cfg.path && m->cfg.path[0]);
        FUZZ_CHECK(m->base_path && m->base_path[0]);
        FUZZ_CHECK(repo_config_find(c, m->cfg.name) == m);
        FUZZ_CHECK(m->options == NULL || json_is_object(m->options));
        if (m->options) {
            char *dump = json_dumps(m->options, JSON_COMPACT);
            FUZZ_CHECK(dump != NULL);
            free(dump);
        }
    }
    for (size_t i = 0; i < c->n_warnings; i++) FUZZ_CHECK(c->warnings[i] && c->warnings[i][0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 18) return 0;
    fuzz_dir();
    const uint8_t *part[2];
    size_t len[2];
    size_t n = fuzz_split(data, size, "\n#lmfuzz#\n", part, len, 2);
    const char *path = fuzz_write("config.json", part[0], len[0]);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s", path);
    if (n > 1) fuzz_write("graph.pbtxt", part[1], len[1]);
    fuzz_write("model.gguf", "", 0);
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    if (repo_load_config(cfg, &c, &err) != LM_OK) FUZZ_CHECK(err.code != LM_OK && err.msg[0]);
    else check_config(&c);
    repo_config_fini(&c);
    return 0;
}
