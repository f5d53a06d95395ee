/* tok_load_hf.c — a tokenizer from a Hugging Face model folder (tokenizer.json and friends).
 * Not built yet: fails with LM_ERR_UNSUPPORTED. */
#include "tokenizer/tok_impl.h"

lm_status tok_load_hf(const char *dir, tok_tokenizer **out, lm_error *err) {
    *out = NULL;
    return err_set(err, LM_ERR_UNSUPPORTED, "%s: loading tokenizer.json is not supported yet",
                   dir);
}
