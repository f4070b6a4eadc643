/*
 * The I2_S multi-token tile kernels (i2s_gemm.c), called from ternary.c's I2_S task. Hidden.
 */
#ifndef BL_I2S_GEMM_H
#define BL_I2S_GEMM_H
#include <stdint.h>

#include "../internal.h"

/* Whether bl_i2s_gemm_rows handles rows of `cols` columns at level `lvl`. */
BL_HIDDEN int bl_i2s_gemm_supported(int lvl, int64_t cols);

/* y[t * rows + r] for rows [rb, re) and tokens [0, ntok): ((float)sum(code * q_t) -
 * (float)qsum[t]) / factor[t] * wscale, ternary.c's I2_S epilogue bit for bit. */
BL_HIDDEN void bl_i2s_gemm_rows(int lvl, const uint8_t *w, int64_t rows, int64_t cols,
                                const int8_t *q, const int32_t *qsum, const float *factor,
                                float wscale, int64_t ntok, int64_t rb, int64_t re, float *y);

#endif
