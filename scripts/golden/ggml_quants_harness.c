// Bit-exactness harness: links llama.cpp/ggml's real ggml-quants.c (reference functions) and uses the
// fp16/bf16 inline converters of ggml-impl.h. Usage: harness TYPE n in.f32 out.q out.f32
#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-quants.h"
#include "ggml-impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); abort(); }
size_t ggml_row_size(enum ggml_type t, int64_t ne) { (void)t; (void)ne; abort(); }
const char * ggml_type_name(enum ggml_type t) { (void)t; return "?"; }
size_t ggml_type_size(enum ggml_type t) { (void)t; abort(); }

int main(int argc, char ** argv) {
    const char * t = argv[1]; int64_t n = atoll(argv[2]);
    float * x = malloc(n * 4); float * y = malloc(n * 4); uint8_t * q = malloc(n * 4 + 1024);
    FILE * f = fopen(argv[3], "rb"); if (fread(x, 4, n, f) != (size_t)n) return 2; fclose(f);
    size_t nb = 0;
#define BQ(NAME, BLK, QK) if (!strcmp(t, #NAME)) { \
        quantize_row_##BLK##_ref(x, (block_##BLK *) q, n); dequantize_row_##BLK((block_##BLK *) q, y, n); \
        nb = n / QK * sizeof(block_##BLK); }
    BQ(Q4_0, q4_0, QK4_0) BQ(Q4_1, q4_1, QK4_1) BQ(Q5_0, q5_0, QK5_0) BQ(Q5_1, q5_1, QK5_1)
    BQ(Q8_0, q8_0, QK8_0) BQ(Q4_K, q4_K, QK_K) BQ(Q5_K, q5_K, QK_K) BQ(Q6_K, q6_K, QK_K)
    if (!strcmp(t, "F32")) { memcpy(q, x, n * 4); memcpy(y, q, n * 4); nb = n * 4; }
    if (!strcmp(t, "F16")) { ggml_fp16_t * h = (ggml_fp16_t *) q;
        for (int64_t i = 0; i < n; i++) h[i] = GGML_FP32_TO_FP16(x[i]);
        for (int64_t i = 0; i < n; i++) y[i] = GGML_FP16_TO_FP32(h[i]); nb = n * 2; }
    if (!strcmp(t, "BF16")) { ggml_bf16_t * h = (ggml_bf16_t *) q;
        for (int64_t i = 0; i < n; i++) h[i] = GGML_FP32_TO_BF16(x[i]);
        for (int64_t i = 0; i < n; i++) y[i] = GGML_BF16_TO_FP32(h[i]); nb = n * 2; }
    if (!nb) { fprintf(stderr, "unknown type %s\n", t); return 3; }
    f = fopen(argv[4], "wb"); fwrite(q, 1, nb, f); fclose(f);
    f = fopen(argv[5], "wb"); fwrite(y, 4, n, f); fclose(f);
    return 0;
}
