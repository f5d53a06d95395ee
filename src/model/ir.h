/* ir.h — OpenVINO IR model folders (openvino_model.xml + openvino_model.bin) as a weight
 * container, read without OpenVINO: the graph is never executed, only searched for weights.
 *
 * The XML (IR v10 or v11) is a list of <layer id name type> with <data> attributes, then <edges>
 * (from-layer/from-port -> to-layer/to-port). Weights are Const layers whose <data> gives
 * element_type, shape, and offset/size into the .bin (unaligned; identical constants share an
 * offset). Recovery follows each weight consumer back through its decompression subgraph:
 *
 *   MatMul(act, W) with transpose_b, W one of (Converts to f32/f16 may appear around each step):
 *     Const f32|f16|bf16                                                  plain weight
 *     Multiply(Convert(Const q), Const scale)                   symmetric, scale [out,1]
 *     Reshape(Multiply(Convert(Const q [out,G,g]), Const scale [out,G,1]), [out, G*g])  grouped
 *     Multiply(Subtract(Convert(Const q), Convert(Const zp)), Const scale)          asymmetric
 *   Gather(W, ids, 0) for the token embedding, W as above.
 *
 * Weight names are the Const names without "self." (transformers' names: model.layers.0.mlp.
 * up_proj.weight). Recovered tensors use the engine's layouts (compute/quant.h):
 *   i4 symmetric (and the legacy u4 with zero point 8): LM_TYPE_I4_CH for one f16/f32 scale per
 *     row, LM_TYPE_I4_G32/64/128 for f16 group scales of those sizes: the nibbles are re-ordered
 *     into chunks and the scales copied, never dequantized, so the result is bit-identical to
 *     quantizing the dequantized weights with lmserve's own int4 quantizer;
 *   i8 symmetric per row: LM_TYPE_I8_CH (q = -128 falls back to F16);
 *   asymmetric u4/u8 and other group sizes: F16 computed as OpenVINO's f16 graph computes it,
 *     (q - zp) * scale rounded once to f16 (F32 when the scale is f32);
 *   f32/f16/bf16: views into the mapped .bin (copies when the offset is not element-aligned).
 * RMSNorm/LayerNorm weights are unnamed Consts: a Multiply (Add for a bias) in the op namespace
 * __module.<module>/... whose module ends in "norm" names them <module>.weight (.bias). The RoPE
 * inv_freq Const (namespace ...rotary_emb, f32 [1, n, 1]) is kept for a cross-check. A data-aware
 * AWQ activation multiply (<src>/awq_mul before mlp.down_proj) is folded into the rows of the
 * up projection, which produces that activation.
 *
 * Refused with a message naming the thing: IR versions other than 10/11, MoE (GroupedMatMul),
 * LoRA correction adapters (_lora_A/_lora_B or nncf lora_correction), weight element types other
 * than i4/u4/i8/u8/f16/bf16/f32 (nf4, f4e2m1, f8e4m3, ...), MatMuls without transpose_b on a
 * weight, a weight behind a subgraph of another shape. Hostile files: Const offsets or sizes
 * outside the .bin or disagreeing with shape x type, absurd shapes (LM_IR_MAX_DIMS/DIM),
 * duplicate layer ids, edges naming missing layers or feeding one port twice, cycles, malformed
 * XML (irxml.h) all give LM_ERR_FORMAT (LM_ERR_LIMIT for limits.h). */
#ifndef LM_MODEL_IR_H
#define LM_MODEL_IR_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "compute/dtype.h"

typedef struct ir_model ir_model;

/* A recovered weight: `rows` rows of `cols` elements of `type`, row_bytes apart (a vector has
 * rows == 1). data points into the mapped .bin or into a buffer the ir_model owns. */
typedef struct {
    const char *name;
    ggml_type type;
    int64_t cols, rows;
    size_t row_bytes;
    const void *data;
} ir_tensor;

/* Whether `dir` holds openvino_model.xml. */
int ir_folder_has_model(const char *dir);

/* Maps dir/openvino_model.xml and dir/openvino_model.bin and recovers every weight. Messages
 * name the file. */
lm_status ir_model_open(const char *dir, ir_model **out, lm_error *err);

/* As ir_model_open, from memory (tests and fuzzing): `bin` must outlive the result. */
lm_status ir_model_parse(const char *xml, size_t xml_len, const void *bin, size_t bin_len,
                         ir_model **out, lm_error *err);

/* Frees everything, unmapping files it mapped. Accepts NULL. */
void ir_model_close(ir_model *m);

/* The weight called `name` (transformers' name, no "self."), or NULL. */
const ir_tensor *ir_model_find(const ir_model *m, const char *name);

/* All weights by name; at() returns NULL for i >= count. */
size_t ir_model_tensor_count(const ir_model *m);
const ir_tensor *ir_model_tensor_at(const ir_model *m, size_t i);

/* The RoPE inv_freq Const (*n entries), or NULL when the graph has none. */
const float *ir_model_inv_freq(const ir_model *m, int *n);

/* Checks the graph's inv_freq against what config.json implies: theta^(-2i/rope_dim), divided
 * by factors[i] when factors is not NULL (llama3 / longrope scaling). LM_ERR_FORMAT naming the
 * first entry that differs by more than 1e-3 relative; LM_OK when the graph has no inv_freq. */
lm_status ir_model_check_rope(const ir_model *m, int rope_dim, double theta, const float *factors,
                              lm_error *err);

#endif
