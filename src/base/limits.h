/* limits.h — every limit on untrusted input, in one place.
 *
 * Each constant says what it bounds, why this value, and which error it raises (LM_ERR_LIMIT
 * unless noted). Tests may lower them by defining the macro before including this header. */
#ifndef LM_BASE_LIMITS_H
#define LM_BASE_LIMITS_H

/* GGUF: metadata key/value pairs in one file. Real files have < 100; 1M stops count bombs. */
#ifndef LM_GGUF_MAX_KV
#define LM_GGUF_MAX_KV (1u << 20)
#endif

/* GGUF: tensors in one file. The largest real models have tens of thousands. */
#ifndef LM_GGUF_MAX_TENSORS
#define LM_GGUF_MAX_TENSORS (1u << 20)
#endif

/* GGUF: nesting depth of array-of-array metadata values. Real files use 1. */
#ifndef LM_GGUF_MAX_ARRAY_DEPTH
#define LM_GGUF_MAX_ARRAY_DEPTH 8
#endif

/* GGUF: tensor rank. ggml supports 4. */
#define LM_GGUF_MAX_DIMS 4

/* Generation: most tokens one `generate` call may produce. */
#ifndef LM_MAX_NEW_TOKENS
#define LM_MAX_NEW_TOKENS (1 << 20)
#endif

/* ---- Chat templates (src/template). Templates come from downloaded model folders: untrusted.
 * Each bound can also be lowered per render through tpl_options (tests do). ---- */

/* Template source bytes. Real chat templates are under 64 KiB; 1 MiB stops "10 MB literal" bombs
 * at compile time. */
#ifndef LM_TPL_MAX_SOURCE
#define LM_TPL_MAX_SOURCE (1u << 20)
#endif

/* Syntactic nesting (blocks inside blocks, parentheses, filter chains). Real templates nest < 10;
 * 200 (Lua's LUAI_MAXCCALLS) keeps the recursive-descent parser far from the C stack's end. */
#ifndef LM_TPL_MAX_NESTING
#define LM_TPL_MAX_NESTING 200
#endif

/* Run-time evaluation depth: nested expression/statement evaluation plus macro calls. Bounds the
 * C stack used by one render (infinite macro recursion stops here). Jinja2 itself relies on
 * Python's limit of 1000 frames. */
#ifndef LM_TPL_MAX_DEPTH
#define LM_TPL_MAX_DEPTH 500
#endif

/* Loop iterations plus macro calls in one render. A 50-turn chat with tools needs a few
 * thousand; 10M stops runaway loops within about a second. */
#ifndef LM_TPL_MAX_STEPS
#define LM_TPL_MAX_STEPS 10000000u
#endif

/* Elements of one range(). Jinja2's sandbox refuses ranges over 100,000 (MAX_RANGE); so do we. */
#ifndef LM_TPL_MAX_RANGE
#define LM_TPL_MAX_RANGE 100000
#endif

/* Bytes of rendered output, and of any single string built during a render. A prompt beyond
 * 64 MiB is far past every model's context window. */
#ifndef LM_TPL_MAX_OUTPUT
#define LM_TPL_MAX_OUTPUT (64u << 20)
#endif

/* Scratch memory (values, strings, scopes) of one render. */
#ifndef LM_TPL_MAX_MEMORY
#define LM_TPL_MAX_MEMORY (256u << 20)
#endif

/* Wall-clock time of one render in milliseconds. Real renders take well under 1 ms. */
#ifndef LM_TPL_MAX_TIME_MS
#define LM_TPL_MAX_TIME_MS 2000u
#endif

/* ---- safetensors and Hugging Face config.json (src/model/safetensors.c, hfconfig.c). Model
 * folders are user downloads: untrusted. ---- */

/* safetensors: bytes of the JSON header. Hugging Face's reader refuses headers over 100,000,000
 * bytes (MAX_HEADER_SIZE); we use the same figure so every file it loads, we load. Real headers are
 * under a few MB. jansson's tree costs up to ~20x the header's bytes while parsing. */
#ifndef LM_ST_MAX_HEADER
#define LM_ST_MAX_HEADER 100000000u
#endif

/* safetensors: tensors in one file, and in one sharded model. The largest real models have tens
 * of thousands; GGUF uses the same bound (LM_GGUF_MAX_TENSORS). */
#ifndef LM_ST_MAX_TENSORS
#define LM_ST_MAX_TENSORS (1u << 20)
#endif

/* safetensors: tensor rank. Weights use 1-2 dims, conv/MoE weights up to 5; 8 leaves room.
 * Fixed (not overridable): st_tensor.shape[] is sized by it. */
#define LM_ST_MAX_DIMS 8

/* safetensors: bytes of model.safetensors.index.json. About 100 bytes per tensor; 100 MB as for
 * a header. */
#ifndef LM_ST_MAX_INDEX
#define LM_ST_MAX_INDEX 100000000u
#endif

/* safetensors: shard files of one model (each is one mapping). The largest real models ship a
 * few hundred; the kernel's default map count limit is 65530. */
#ifndef LM_ST_MAX_SHARDS
#define LM_ST_MAX_SHARDS 4096u
#endif

/* config.json / generation_config.json: file bytes. Real ones are under 16 KiB. */
#ifndef LM_HFCONFIG_MAX_BYTES
#define LM_HFCONFIG_MAX_BYTES (4u << 20)
#endif

/* config.json: largest integer accepted for a size, count or token id (hidden_size,
 * max_position_embeddings, eos_token_id, ...), so each fits an int and a product of two fits
 * 64 bits. Raises LM_ERR_FORMAT naming the key. */
#ifndef LM_HFCONFIG_MAX_INT
#define LM_HFCONFIG_MAX_INT 2147483647
#endif

/* config.json: EOS token ids kept from a list (Llama 3.1's generation config has 3).
 * Fixed (not overridable): hfconfig arrays are sized by it. */
#define LM_HFCONFIG_MAX_EOS 32

/* config.json: entries of rope_scaling.short_factor / long_factor (one per rotated pair:
 * rotary_dim / 2, 48 for Phi-3.5). Fixed: hfconfig arrays are sized by it. */
#define LM_HFCONFIG_MAX_ROPE_FACTORS 512

/* ---- Model repository (src/repo): config.json and graph.pbtxt are user files, often copied from
 * elsewhere; a hub download is untrusted. ---- */

/* graph.pbtxt: file bytes. OVMS's LLM graphs are about 1 KiB; 4 MiB leaves room for any real
 * MediaPipe graph. */
#ifndef LM_PBTXT_MAX_BYTES
#define LM_PBTXT_MAX_BYTES (4u << 20)
#endif

/* graph.pbtxt: message nesting. protobuf's own text parser stops at 100 (its default recursion
 * limit); real graphs nest 5 deep. Keeps the recursive-descent parser off the C stack's end. */
#ifndef LM_PBTXT_MAX_DEPTH
#define LM_PBTXT_MAX_DEPTH 100
#endif

/* graph.pbtxt: fields in one file (a list element counts as one). Real graphs have under 100;
 * the bound keeps a 4 MiB list of tiny numbers from costing hundreds of MB of field records. */
#ifndef LM_PBTXT_MAX_FIELDS
#define LM_PBTXT_MAX_FIELDS 100000u
#endif

/* config.json (the model repository's, not a model's): file bytes. One entry is ~100 bytes. */
#ifndef LM_REPO_MAX_CONFIG_BYTES
#define LM_REPO_MAX_CONFIG_BYTES (4u << 20)
#endif

/* config.json: models served from one configuration. Each loaded model owns a generation
 * thread and its KV cache; a thousand is already far past what one machine serves. */
#ifndef LM_REPO_MAX_MODELS
#define LM_REPO_MAX_MODELS 1000u
#endif

/* --list_models: folder depth searched below --model_repository_path. OVMS lists names up to
 * org/model/variant; 8 levels stop symlink loops and deep trees. */
#ifndef LM_REPO_MAX_LIST_DEPTH
#define LM_REPO_MAX_LIST_DEPTH 8
#endif

/* ---- HTTP server (src/server). Requests come from the network: untrusted. ---- */

/* Request body bytes. A 128K-token prompt is well under 1 MiB of JSON; 16 MiB leaves room for
 * long chats with tool schemas. Larger bodies get HTTP 413 (a declared Content-Length at once,
 * a chunked body once it passes the limit). */
#ifndef LM_HTTP_MAX_BODY
#define LM_HTTP_MAX_BODY (16u << 20)
#endif

/* Open connections, idle keep-alive ones included. An idle connection costs a socket and a
 * LM_HTTP_CONN_MEMORY buffer, no thread; the server raises its open-file limit to fit. */
#ifndef LM_HTTP_MAX_CONNECTIONS
#define LM_HTTP_MAX_CONNECTIONS 10000
#endif

/* Bytes of libmicrohttpd's per-connection buffer: request line, headers and read buffer. A
 * request whose headers do not fit is answered 431. 16 KiB holds any real client's headers
 * (nginx's default large buffer is 8 KiB) and keeps idle connections cheap. */
#ifndef LM_HTTP_CONN_MEMORY
#define LM_HTTP_CONN_MEMORY (16u << 10)
#endif

/* Seconds a connection may go without any traffic before it is closed: an idle keep-alive
 * connection, or a client that stopped reading its stream (its request is then cancelled).
 * Connections waiting for generation are not idle and never time out. */
#ifndef LM_HTTP_IDLE_TIMEOUT_S
#define LM_HTTP_IDLE_TIMEOUT_S 300
#endif

/* Milliseconds in-flight requests may run on after SIGINT/SIGTERM before they are cancelled;
 * the server exits within about this plus LM_HTTP_CANCEL_WAIT_MS. */
#ifndef LM_HTTP_SHUTDOWN_GRACE_MS
#define LM_HTTP_SHUTDOWN_GRACE_MS 3000
#endif

/* Milliseconds to wait for cancelled requests to send their last bytes at shutdown. */
#ifndef LM_HTTP_CANCEL_WAIT_MS
#define LM_HTTP_CANCEL_WAIT_MS 2000
#endif

/* ---- Generation requests (src/server/oai_request.c, src/serving). Every one raises HTTP 400
 * with a message naming the field and the limit; docs/api.md lists them with the others that
 * bound a request (LM_HTTP_MAX_BODY, GEN_MAX_STOP, GEN_MAX_SAMPLES, LM_MAX_NEW_TOKENS, the
 * model's prompt length). ---- */

/* Nesting of the request JSON (objects and arrays), checked on the raw bytes before parsing.
 * OVMS refuses bodies deeper than 100; real requests (tool schemas included) nest under 20. */
#ifndef LM_REQ_MAX_JSON_DEPTH
#define LM_REQ_MAX_JSON_DEPTH 100
#endif

/* Messages in one chat request. Long agent sessions reach hundreds; 10,000 bounds the work of
 * rendering the template before the prompt-length limit can refuse it. */
#ifndef LM_REQ_MAX_MESSAGES
#define LM_REQ_MAX_MESSAGES 10000
#endif

/* Tools in one request: OpenAI's own limit. */
#ifndef LM_REQ_MAX_TOOLS
#define LM_REQ_MAX_TOOLS 128
#endif

/* Entries of logit_bias (one per token id). OpenAI accepts up to 300. */
#ifndef LM_REQ_MAX_LOGIT_BIAS
#define LM_REQ_MAX_LOGIT_BIAS 300
#endif

/* Bytes one prompt token may stand for, at most, when judging a prompt by its length before
 * tokenizing it: a prompt longer than (the model's prompt limit in tokens) x this many bytes
 * cannot fit and is refused without spending CPU on tokenizing (a 10 MB prompt costs seconds).
 * Real text averages 3-5 bytes per token; only pathological repetitions of a long vocabulary
 * entry exceed 64. */
#ifndef LM_PROMPT_MAX_BYTES_PER_TOKEN
#define LM_PROMPT_MAX_BYTES_PER_TOKEN 64
#endif

/* ---- tokenizer ---------------------------------------------------------------------------- */

/* Bytes of text one tok_encode call accepts. Offsets inside a piece are 32-bit; 1 GiB is far
 * beyond any context window and keeps every index in range. Raises LM_ERR_LIMIT. */
#ifndef LM_TOK_MAX_TEXT_BYTES
#define LM_TOK_MAX_TEXT_BYTES (1u << 30)
#endif

/* Tokens in one vocabulary (GGUF or tokenizer.json). The largest real ones have ~260k. */
#ifndef LM_TOK_MAX_VOCAB
#define LM_TOK_MAX_VOCAB (1 << 24)
#endif

/* Bytes of tokenizer.json read (after gunzip). Real ones reach ~35 MB (Gemma 3). */
#ifndef LM_TOK_MAX_JSON_BYTES
#define LM_TOK_MAX_JSON_BYTES (512u << 20)
#endif

/* ---- model dimensions (GGUF metadata, config.json) --------------------------------------- */

/* Bounds on a model's hyper-parameters read from its files: far above any real model (the
 * largest have ~130 layers, 128 heads, 16k hidden, 53k feed-forward, 256k vocabulary) and low
 * enough that sizes derived from them cannot overflow. Beyond them: LM_ERR_FORMAT "absurd model
 * dimensions". */
#ifndef LM_MODEL_MAX_LAYERS
#define LM_MODEL_MAX_LAYERS 4096
#endif
#ifndef LM_MODEL_MAX_HEADS
#define LM_MODEL_MAX_HEADS 4096      /* attention heads, and elements per head */
#endif
#ifndef LM_MODEL_MAX_EMBD
#define LM_MODEL_MAX_EMBD (1 << 20)
#endif
#ifndef LM_MODEL_MAX_FF
#define LM_MODEL_MAX_FF (1 << 22)
#endif
#ifndef LM_MODEL_MAX_VOCAB
#define LM_MODEL_MAX_VOCAB (1 << 24)  /* also the bound of any one metadata integer */
#endif
/* Context length (GGUF context_length, config.json max_position_embeddings and rope_scaling's
 * original_max_position_embeddings) and sliding window: 16M positions, far past any real model
 * (10M is the largest published), so block and position arithmetic on it stays inside an int. */
#ifndef LM_MODEL_MAX_CTX
#define LM_MODEL_MAX_CTX (1 << 24)
#endif

/* ---- OpenVINO IR (openvino_model.xml / .bin) --------------------------------------------- */

/* The XML text of an IR: a 70B model's graph is ~30 MB; beyond: LM_ERR_LIMIT. */
#ifndef LM_IR_MAX_XML_BYTES
#define LM_IR_MAX_XML_BYTES (1u << 30)
#endif
/* Element nesting depth in the XML (an IR nests about 7 deep): bounds the parser's stack. */
#ifndef LM_IR_MAX_XML_DEPTH
#define LM_IR_MAX_XML_DEPTH 64
#endif
/* Attributes on one element (a layer's <data> has fewer than 20). */
#ifndef LM_IR_MAX_XML_ATTRS
#define LM_IR_MAX_XML_ATTRS 256
#endif
/* Layers and edges of one graph (a 70B LLM has ~30k layers and ~50k edges). */
#ifndef LM_IR_MAX_LAYERS
#define LM_IR_MAX_LAYERS (1u << 22)
#endif
#ifndef LM_IR_MAX_EDGES
#define LM_IR_MAX_EDGES (1u << 23)
#endif
/* Dimensions of one Const's shape, and the bound of one dimension. */
#ifndef LM_IR_MAX_DIMS
#define LM_IR_MAX_DIMS 8
#endif
#ifndef LM_IR_MAX_DIM
#define LM_IR_MAX_DIM (1ll << 40)
#endif

#endif
