/* tests/fuzz/fuzz_graph.c — libFuzzer target for a whole graph.pbtxt as the repository reads it
 * (src/repo/config.c on top of src/repo/pbtxt.c: finding the HttpLLMCalculator node, its
 * LLMCalculatorOptions in either spelling, models_path, every option's type and range, warnings
 * for options lmserve does not use).
 *
 * The input is written as graph.pbtxt in a scratch folder (next to an empty model.gguf a graph may
 * name) and read with repo_add_model(). A refusal must carry a message; an accepted graph must give
 * one named model with a path, its options as a JSON object, and well-formed warnings. */
#include "fuzzutil.h"

#include "repo/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 18) return 0;
    const char *dir = fuzz_dir();
    fuzz_write("graph.pbtxt", data, size);
    fuzz_write("model.gguf", "", 0);
    repo_config c = {0};
    lm_error err;
    err_clear(&err);
    if (repo_add_model("fuzz", dir, &c, &err) != LM_OK) {
        FUZZ_CHECK(err.code != LM_OK && err.msg[0]);
    } else {
        FUZZ_CHECK(c.n_models == 1);
        const repo_model *m = &c.models[0];
        FUZZ_CHECK(strcmp(m->cfg.name, "fuzz") == 0 && m->cfg.path && m->cfg.path[0]);
        FUZZ_CHECK(m->graph_path != NULL && m->options != NULL && json_is_object(m->options));
        char *dump = json_dumps(m->options, JSON_COMPACT);
        FUZZ_CHECK(dump != NULL);
        free(dump);
        for (size_t i = 0; i < c.n_warnings; i++) FUZZ_CHECK(c.warnings[i] && c.warnings[i][0]);
    }
    repo_config_fini(&c);
    return 0;
}
