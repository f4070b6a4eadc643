/*
 * Scalar reference dequantizers, one per type, formula for formula the same as ggml's
 * dequantize_row_* in ggml-org/llama.cpp v0.5.0 ggml/src/ggml-quants.c (and ggml_fp16_to_fp32_row /
 * ggml_bf16_to_fp32_row in ggml/src/ggml.c). Each function cites its source; the expressions keep ggml's
 * operand order so that every intermediate rounding is the same. Multi-byte fields are read with memcpy
 * because callers may pass unaligned buffers.
 */
#include <math.h>

#include "internal.h"
#include "iq_tables.h"

#define kvalues_mxfp4 kvalues_fp4
#define IQ1S_DELTA 0.125f

/*
 * ggml writes `v * (sign ? -1.f : 1.f)`; GCC compiles that multiply to a sign flip (it may: IEEE leaves
 * the sign of a NaN result unspecified), and the ggml build we match is GCC's. So the sign factor is a
 * negation here, explicitly, whatever the compiler: it equals the multiply for every non-NaN v and
 * matches ggml's binaries for NaN too.
 */
static inline float bl_signed(float v, int negative) { return negative ? -v : v; }

static uint16_t load_u16(const void *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* ---- plain arrays ---- */

static void deq_f32(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  memcpy(y, src, (size_t)n * sizeof(float));
}

/* ggml/src/ggml.c ggml_fp16_to_fp32_row */
static void deq_f16(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) y[i] = bl_fp16_to_fp32(load_u16(src + 2 * i));
}

/* ggml/src/ggml.c ggml_bf16_to_fp32_row */
static void deq_bf16(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) y[i] = bl_bf16_to_fp32(load_u16(src + 2 * i));
}

/* Integer and f64 arrays: C's conversion to float (round to nearest even). ggml has no to_float. */
static void deq_i8(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) y[i] = (float)(int8_t)src[i];
}
static void deq_i16(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) {
    int16_t v;
    memcpy(&v, src + 2 * i, sizeof v);
    y[i] = (float)v;
  }
}
static void deq_i32(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) {
    int32_t v;
    memcpy(&v, src + 4 * i, sizeof v);
    y[i] = (float)v;
  }
}
static void deq_i64(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) {
    int64_t v;
    memcpy(&v, src + 8 * i, sizeof v);
    y[i] = (float)v;
  }
}
static void deq_f64(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  for (int64_t i = 0; i < n; i++) {
    double v;
    memcpy(&v, src + 8 * i, sizeof v);
    y[i] = (float)v;
  }
}

/* ---- legacy 32-element blocks ---- */

/* ggml-quants.c dequantize_row_q1_0 */
static void deq_q1_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q1_0 *x = (const block_q1_0 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float neg_d = -d;
    for (int j = 0; j < 128; ++j) {
      const uint8_t bit = (x[i].qs[j / 8] >> (j % 8)) & 1;
      y[i * 128 + j] = bit ? d : neg_d;
    }
  }
}

/* ggml-quants.c dequantize_row_q2_0: 00=-1, 01=0, 10=+1, 11=+2 */
static void deq_q2_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q2_0 *x = (const block_q2_0 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int j = 0; j < 64; ++j) {
      const uint8_t q = (x[i].qs[j / 4] >> ((j % 4) * 2)) & 0x03;
      y[i * 64 + j] = ((int)q - 1) * d;
    }
  }
}

/* ggml-quants.c dequantize_row_q4_0 */
static void deq_q4_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_0 *x = (const block_q4_0 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int j = 0; j < 16; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * 32 + j + 0] = x0 * d;
      y[i * 32 + j + 16] = x1 * d;
    }
  }
}

/* ggml-quants.c dequantize_row_q4_1 */
static void deq_q4_1(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_1 *x = (const block_q4_1 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float m = bl_fp16_to_fp32(bl_load_half(&x[i].m));
    for (int j = 0; j < 16; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F);
      const int x1 = (x[i].qs[j] >> 4);
      y[i * 32 + j + 0] = x0 * d + m;
      y[i * 32 + j + 16] = x1 * d + m;
    }
  }
}

/* ggml-quants.c dequantize_row_q5_0 */
static void deq_q5_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q5_0 *x = (const block_q5_0 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    uint32_t qh;
    memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
      const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
      y[i * 32 + j + 0] = x0 * d;
      y[i * 32 + j + 16] = x1 * d;
    }
  }
}

/* ggml-quants.c dequantize_row_q5_1 */
static void deq_q5_1(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q5_1 *x = (const block_q5_1 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float m = bl_fp16_to_fp32(bl_load_half(&x[i].m));
    uint32_t qh;
    memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
      const int x1 = (x[i].qs[j] >> 4) | xh_1;
      y[i * 32 + j + 0] = x0 * d + m;
      y[i * 32 + j + 16] = x1 * d + m;
    }
  }
}

/* ggml-quants.c dequantize_row_q8_0 */
static void deq_q8_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q8_0 *x = (const block_q8_0 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = x[i].qs[j] * d;
  }
}

/* ggml-impl.h ggml_e8m0_to_fp32_half: 2^(x-128), with the two denormal patterns for x < 2 */
static float e8m0_to_fp32_half(uint8_t x) {
  const uint32_t bits = x < 2 ? (UINT32_C(0x00200000) << x) : ((uint32_t)(x - 1) << 23);
  return bl_f32_from_bits(bits);
}

/* ggml-quants.c dequantize_row_mxfp4 */
static void deq_mxfp4(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_mxfp4 *x = (const block_mxfp4 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = e8m0_to_fp32_half(x[i].e);
    for (int j = 0; j < 16; ++j) {
      const int8_t x0 = kvalues_mxfp4[x[i].qs[j] & 0x0F];
      const int8_t x1 = kvalues_mxfp4[x[i].qs[j] >> 4];
      y[i * 32 + j + 0] = x0 * d;
      y[i * 32 + j + 16] = x1 * d;
    }
  }
}

/* ggml-impl.h ggml_ue4m3_to_fp32 (value * 0.5 to match the doubled kvalues) */
static float ue4m3_to_fp32(uint8_t x) {
  if (x == 0 || x == 0x7F) return 0.0f;
  const int exp = (x >> 3) & 0xF;
  const int man = x & 0x7;
  float raw;
  if (exp == 0) {
    raw = ldexpf((float)man, -9);
  } else {
    raw = ldexpf(1.0f + (float)man / 8.0f, exp - 7);
  }
  return raw * 0.5f;
}

/* ggml-quants.c dequantize_row_nvfp4 */
static void deq_nvfp4(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_nvfp4 *x = (const block_nvfp4 *)src;
  for (int64_t i = 0; i < nb; i++) {
    for (int sb = 0; sb < 4; sb++) {
      const float d = ue4m3_to_fp32(x[i].d[sb]);
      float *yb = y + i * 64 + sb * 16;
      for (int j = 0; j < 8; ++j) {
        const int8_t v0 = kvalues_mxfp4[x[i].qs[sb * 8 + j] & 0x0F];
        const int8_t v1 = kvalues_mxfp4[x[i].qs[sb * 8 + j] >> 4];
        yb[j + 0] = v0 * d;
        yb[j + 8] = v1 * d;
      }
    }
  }
}

/* ---- k-quants (256-element super-blocks) ---- */

/* ggml-quants.c dequantize_row_q2_K */
static void deq_q2_K(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q2_K *x = (const block_q2_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float min = bl_fp16_to_fp32(bl_load_half(&x[i].dmin));
    const uint8_t *q = x[i].qs;
    int is = 0;
    float dl, ml;
    for (int n = 0; n < QK_K; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        uint8_t sc = x[i].scales[is++];
        dl = d * (sc & 0xF);
        ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
        sc = x[i].scales[is++];
        dl = d * (sc & 0xF);
        ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}

/* ggml-quants.c dequantize_row_q3_K */
static void deq_q3_K(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q3_K *x = (const block_q3_K *)src;
  const uint32_t kmask1 = 0x03030303;
  const uint32_t kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  const int8_t *scales = (const int8_t *)aux;
  for (int64_t i = 0; i < nb; i++) {
    const float d_all = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *q = x[i].qs;
    const uint8_t *hm = x[i].hmask;
    uint8_t m = 1;
    memcpy(aux, x[i].scales, 12);
    uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    int is = 0;
    float dl;
    for (int n = 0; n < QK_K; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; ++l) {
          *y++ = dl * ((int8_t)((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
        }
        dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; ++l) {
          *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        }
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  }
}

/* ggml-quants.c get_scale_min_k4 */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

/* ggml-quants.c dequantize_row_q4_K */
static void deq_q4_K(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_K *x = (const block_q4_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *q = x[i].qs;
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float min = bl_fp16_to_fp32(bl_load_half(&x[i].dmin));
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

/* ggml-quants.c dequantize_row_q5_K */
static void deq_q5_K(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q5_K *x = (const block_q5_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *ql = x[i].qs;
    const uint8_t *qh = x[i].qh;
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float min = bl_fp16_to_fp32(bl_load_half(&x[i].dmin));
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

/* ggml-quants.c dequantize_row_q6_K: (d * sc) * q, two roundings in that order */
static void deq_q6_K(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q6_K *x = (const block_q6_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *ql = x[i].ql;
    const uint8_t *qh = x[i].qh;
    const int8_t *sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

/* ggml-quants.c dequantize_row_q8_K (ggml registers no to_float for it, but exports this function) */
static void deq_q8_K(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q8_K *x = (const block_q8_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    float d;
    memcpy(&d, &x[i].d, sizeof d);
    for (int j = 0; j < QK_K; ++j) *y++ = d * x[i].qs[j];
  }
}

/* ---- ternary ---- */

/* ggml-quants.c dequantize_row_tq1_0 */
static void deq_tq1_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_tq1_0 *x = (const block_tq1_0 *)src;
  const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
  const size_t qs_size = sizeof(x->qs);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (size_t j = 0; j < qs_size - qs_size % 32; j += 32) {
      for (size_t n = 0; n < 5; ++n) {
        for (size_t m = 0; m < 32; ++m) {
          const uint8_t q = (uint8_t)(x[i].qs[j + m] * pow3[n]);
          const int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
          *y++ = (float)(xi - 1) * d;
        }
      }
    }
    for (size_t j = qs_size - qs_size % 32; j < qs_size; j += 16) {
      for (size_t n = 0; n < 5; ++n) {
        for (size_t m = 0; m < 16; ++m) {
          const uint8_t q = (uint8_t)(x[i].qs[j + m] * pow3[n]);
          const int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
          *y++ = (float)(xi - 1) * d;
        }
      }
    }
    for (size_t n = 0; n < 4; ++n) {
      for (size_t j = 0; j < sizeof(x->qh); ++j) {
        const uint8_t q = (uint8_t)(x[i].qh[j] * pow3[n]);
        const int16_t xi = (int16_t)(((uint16_t)q * 3) >> 8);
        *y++ = (float)(xi - 1) * d;
      }
    }
  }
}

/* ggml-quants.c dequantize_row_tq2_0 */
static void deq_tq2_0(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_tq2_0 *x = (const block_tq2_0 *)src;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (size_t j = 0; j < sizeof(x->qs); j += 32) {
      for (size_t l = 0; l < 4; ++l) {
        for (size_t m = 0; m < 32; ++m) {
          const int8_t q = (x[i].qs[j + m] >> (l * 2)) & 3;
          *y++ = (float)(q - 1) * d;
        }
      }
    }
  }
}

/*
 * BitNet I2_S (microsoft/BitNet fork, dequantize_row_i2_s with the scale read at x + n/4 as proposed in
 * microsoft/BitNet#468): y = (float)map2bit[code] * scale with map2bit = {-1, 0, +1, 0}.
 */
static void deq_i2_s(const uint8_t *src, float *y, int64_t nb, float scale) {
  static const int8_t map2bit[4] = {-1, 0, 1, 0};
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t *q = src + i * I2_S_BLOCK_BYTES;
    for (int g = 0; g < 4; ++g) {
      const int shift = 6 - 2 * g;
      for (int p = 0; p < 32; ++p) *y++ = (float)map2bit[(q[p] >> shift) & 3] * scale;
    }
  }
}

/* ---- i-quants ---- */

/* ggml-quants.c dequantize_row_iq2_xxs */
static void deq_iq2_xxs(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq2_xxs *x = (const block_iq2_xxs *)src;
  uint32_t aux32[2];
  const uint8_t *aux8 = (const uint8_t *)aux32;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      memcpy(aux32, (const uint8_t *)x[i].qs + 8 * ib32, 2 * sizeof(uint32_t));
      const float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l) {
        const uint8_t *grid = (const uint8_t *)(iq2xxs_grid + aux8[l]);
        const uint8_t signs = ksigns_iq2xs[(aux32[1] >> 7 * l) & 127];
        for (int j = 0; j < 8; ++j) y[j] = bl_signed(db * grid[j], signs & kmask_iq2xs[j]);
        y += 8;
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq2_xs */
static void deq_iq2_xs(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq2_xs *x = (const block_iq2_xs *)src;
  float db[2];
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs8 = (const uint8_t *)x[i].qs;
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      db[0] = d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f;
      db[1] = d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f;
      for (int l = 0; l < 4; ++l) {
        const uint16_t qs = load_u16(qs8 + 2 * (4 * ib32 + l));
        const uint8_t *grid = (const uint8_t *)(iq2xs_grid + (qs & 511));
        const uint8_t signs = ksigns_iq2xs[qs >> 9];
        for (int j = 0; j < 8; ++j) y[j] = bl_signed(db[l / 2] * grid[j], signs & kmask_iq2xs[j]);
        y += 8;
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq2_s */
static void deq_iq2_s(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq2_s *x = (const block_iq2_s *)src;
  float db[2];
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    const uint8_t *qh = x[i].qh;
    const uint8_t *signs = qs + QK_K / 8;
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      db[0] = d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f;
      db[1] = d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f;
      for (int l = 0; l < 4; ++l) {
        const float dl = db[l / 2];
        const uint8_t *grid = (const uint8_t *)(iq2s_grid + (qs[l] | (qh[ib32] << (8 - 2 * l) & 0x300)));
        for (int j = 0; j < 8; ++j) y[j] = bl_signed(dl * grid[j], signs[l] & kmask_iq2xs[j]);
        y += 8;
      }
      qs += 4;
      signs += 4;
    }
  }
}

/* ggml-quants.c dequantize_row_iq3_xxs */
static void deq_iq3_xxs(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq3_xxs *x = (const block_iq3_xxs *)src;
  uint32_t aux32;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    const uint8_t *scales_and_signs = qs + QK_K / 4;
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      memcpy(&aux32, scales_and_signs + 4 * ib32, sizeof(uint32_t));
      const float db = d * (0.5f + (aux32 >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l) {
        const uint8_t signs = ksigns_iq2xs[(aux32 >> 7 * l) & 127];
        const uint8_t *grid1 = (const uint8_t *)(iq3xxs_grid + qs[2 * l + 0]);
        const uint8_t *grid2 = (const uint8_t *)(iq3xxs_grid + qs[2 * l + 1]);
        for (int j = 0; j < 4; ++j) {
          y[j + 0] = bl_signed(db * grid1[j], signs & kmask_iq2xs[j + 0]);
          y[j + 4] = bl_signed(db * grid2[j], signs & kmask_iq2xs[j + 4]);
        }
        y += 8;
      }
      qs += 8;
    }
  }
}

/* ggml-quants.c dequantize_row_iq3_s */
static void deq_iq3_s(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq3_s *x = (const block_iq3_s *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    const uint8_t *qh = x[i].qh;
    const uint8_t *signs = x[i].signs;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2) {
      const float db1 = d * (1 + 2 * (x[i].scales[ib32 / 2] & 0xf));
      const float db2 = d * (1 + 2 * (x[i].scales[ib32 / 2] >> 4));
      for (int l = 0; l < 4; ++l) {
        const uint8_t *grid1 = (const uint8_t *)(iq3s_grid + (qs[2 * l + 0] | ((qh[0] << (8 - 2 * l)) & 256)));
        const uint8_t *grid2 = (const uint8_t *)(iq3s_grid + (qs[2 * l + 1] | ((qh[0] << (7 - 2 * l)) & 256)));
        for (int j = 0; j < 4; ++j) {
          y[j + 0] = bl_signed(db1 * grid1[j], signs[l] & kmask_iq2xs[j + 0]);
          y[j + 4] = bl_signed(db1 * grid2[j], signs[l] & kmask_iq2xs[j + 4]);
        }
        y += 8;
      }
      qs += 8;
      signs += 4;
      for (int l = 0; l < 4; ++l) {
        const uint8_t *grid1 = (const uint8_t *)(iq3s_grid + (qs[2 * l + 0] | ((qh[1] << (8 - 2 * l)) & 256)));
        const uint8_t *grid2 = (const uint8_t *)(iq3s_grid + (qs[2 * l + 1] | ((qh[1] << (7 - 2 * l)) & 256)));
        for (int j = 0; j < 4; ++j) {
          y[j + 0] = bl_signed(db2 * grid1[j], signs[l] & kmask_iq2xs[j + 0]);
          y[j + 4] = bl_signed(db2 * grid2[j], signs[l] & kmask_iq2xs[j + 4]);
        }
        y += 8;
      }
      qh += 2;
      qs += 8;
      signs += 4;
    }
  }
}

/* ggml-quants.c dequantize_row_iq1_s */
static void deq_iq1_s(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq1_s *x = (const block_iq1_s *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const uint16_t qh = load_u16((const uint8_t *)x[i].qh + 2 * ib);
      const float dl = d * (2 * ((qh >> 12) & 7) + 1);
      const float delta = qh & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA;
      for (int l = 0; l < 4; ++l) {
        const int8_t *grid = (const int8_t *)(iq1s_grid + (qs[l] | (((qh >> 3 * l) & 7) << 8)));
        for (int j = 0; j < 8; ++j) y[j] = dl * (grid[j] + delta);
        y += 8;
      }
      qs += 4;
    }
  }
}

/* ggml-quants.c dequantize_row_iq1_m */
static void deq_iq1_m(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq1_m *x = (const block_iq1_m *)src;
  float delta[4];
  uint16_t idx[4];
  for (int64_t i = 0; i < nb; i++) {
    uint16_t sc[4];
    memcpy(sc, x[i].scales, sizeof sc);
    const uint16_t scale_bits =
        (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
    const float d = bl_fp16_to_fp32(scale_bits);
    const uint8_t *qs = x[i].qs;
    const uint8_t *qh = x[i].qh;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);
      const float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
      idx[0] = qs[0] | ((qh[0] << 8) & 0x700);
      idx[1] = qs[1] | ((qh[0] << 4) & 0x700);
      idx[2] = qs[2] | ((qh[1] << 8) & 0x700);
      idx[3] = qs[3] | ((qh[1] << 4) & 0x700);
      delta[0] = qh[0] & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA;
      delta[1] = qh[0] & 0x80 ? -IQ1S_DELTA : IQ1S_DELTA;
      delta[2] = qh[1] & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA;
      delta[3] = qh[1] & 0x80 ? -IQ1S_DELTA : IQ1S_DELTA;
      for (int l = 0; l < 2; ++l) {
        const int8_t *grid = (const int8_t *)(iq1s_grid + idx[l]);
        for (int j = 0; j < 8; ++j) y[j] = dl1 * (grid[j] + delta[l]);
        y += 8;
      }
      for (int l = 2; l < 4; ++l) {
        const int8_t *grid = (const int8_t *)(iq1s_grid + idx[l]);
        for (int j = 0; j < 8; ++j) y[j] = dl2 * (grid[j] + delta[l]);
        y += 8;
      }
      qs += 4;
      qh += 2;
    }
  }
}

/* ggml-quants.c dequantize_row_iq4_nl */
static void deq_iq4_nl(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq4_nl *x = (const block_iq4_nl *)src;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *qs = x[i].qs;
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int j = 0; j < 16; ++j) {
      y[j + 0] = d * kvalues_iq4nl[qs[j] & 0xf];
      y[j + 16] = d * kvalues_iq4nl[qs[j] >> 4];
    }
    y += 32;
  }
}

/* ggml-quants.c dequantize_row_iq4_xs */
static void deq_iq4_xs(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq4_xs *x = (const block_iq4_xs *)src;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *qs = x[i].qs;
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint16_t scales_h = load_u16(&x[i].scales_h);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * (ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j + 0] = dl * kvalues_iq4nl[qs[j] & 0xf];
        y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
      }
      y += 32;
      qs += 16;
    }
  }
}

const bl_kernel_fn bl_scalar_kernels[BL_TYPE_COUNT] = {
    [BL_TYPE_F32] = deq_f32,         [BL_TYPE_F16] = deq_f16,         [BL_TYPE_Q4_0] = deq_q4_0,
    [BL_TYPE_Q4_1] = deq_q4_1,       [BL_TYPE_Q5_0] = deq_q5_0,       [BL_TYPE_Q5_1] = deq_q5_1,
    [BL_TYPE_Q8_0] = deq_q8_0,       [BL_TYPE_Q2_K] = deq_q2_K,       [BL_TYPE_Q3_K] = deq_q3_K,
    [BL_TYPE_Q4_K] = deq_q4_K,       [BL_TYPE_Q5_K] = deq_q5_K,       [BL_TYPE_Q6_K] = deq_q6_K,
    [BL_TYPE_Q8_K] = deq_q8_K,       [BL_TYPE_IQ2_XXS] = deq_iq2_xxs, [BL_TYPE_IQ2_XS] = deq_iq2_xs,
    [BL_TYPE_IQ3_XXS] = deq_iq3_xxs, [BL_TYPE_IQ1_S] = deq_iq1_s,     [BL_TYPE_IQ4_NL] = deq_iq4_nl,
    [BL_TYPE_IQ3_S] = deq_iq3_s,     [BL_TYPE_IQ2_S] = deq_iq2_s,     [BL_TYPE_IQ4_XS] = deq_iq4_xs,
    [BL_TYPE_I8] = deq_i8,           [BL_TYPE_I16] = deq_i16,         [BL_TYPE_I32] = deq_i32,
    [BL_TYPE_I64] = deq_i64,         [BL_TYPE_F64] = deq_f64,         [BL_TYPE_IQ1_M] = deq_iq1_m,
    [BL_TYPE_BF16] = deq_bf16,       [BL_TYPE_TQ1_0] = deq_tq1_0,     [BL_TYPE_TQ2_0] = deq_tq2_0,
    [BL_TYPE_I2_S] = deq_i2_s,       [BL_TYPE_MXFP4] = deq_mxfp4,     [BL_TYPE_NVFP4] = deq_nvfp4,
    [BL_TYPE_Q1_0] = deq_q1_0,       [BL_TYPE_Q2_0] = deq_q2_0,
};

int bl_geometry(int type, int64_t *block_elements, int64_t *block_bytes) {
  int64_t be = 0, bb = 0;
  switch (type) {
    case BL_TYPE_F32: be = 1; bb = 4; break;
    case BL_TYPE_F16: be = 1; bb = 2; break;
    case BL_TYPE_BF16: be = 1; bb = 2; break;
    case BL_TYPE_I8: be = 1; bb = 1; break;
    case BL_TYPE_I16: be = 1; bb = 2; break;
    case BL_TYPE_I32: be = 1; bb = 4; break;
    case BL_TYPE_I64: be = 1; bb = 8; break;
    case BL_TYPE_F64: be = 1; bb = 8; break;
    case BL_TYPE_Q4_0: be = 32; bb = sizeof(block_q4_0); break;
    case BL_TYPE_Q4_1: be = 32; bb = sizeof(block_q4_1); break;
    case BL_TYPE_Q5_0: be = 32; bb = sizeof(block_q5_0); break;
    case BL_TYPE_Q5_1: be = 32; bb = sizeof(block_q5_1); break;
    case BL_TYPE_Q8_0: be = 32; bb = sizeof(block_q8_0); break;
    case BL_TYPE_Q2_K: be = QK_K; bb = sizeof(block_q2_K); break;
    case BL_TYPE_Q3_K: be = QK_K; bb = sizeof(block_q3_K); break;
    case BL_TYPE_Q4_K: be = QK_K; bb = sizeof(block_q4_K); break;
    case BL_TYPE_Q5_K: be = QK_K; bb = sizeof(block_q5_K); break;
    case BL_TYPE_Q6_K: be = QK_K; bb = sizeof(block_q6_K); break;
    case BL_TYPE_Q8_K: be = QK_K; bb = sizeof(block_q8_K); break;
    case BL_TYPE_IQ2_XXS: be = QK_K; bb = sizeof(block_iq2_xxs); break;
    case BL_TYPE_IQ2_XS: be = QK_K; bb = sizeof(block_iq2_xs); break;
    case BL_TYPE_IQ2_S: be = QK_K; bb = sizeof(block_iq2_s); break;
    case BL_TYPE_IQ3_XXS: be = QK_K; bb = sizeof(block_iq3_xxs); break;
    case BL_TYPE_IQ3_S: be = QK_K; bb = sizeof(block_iq3_s); break;
    case BL_TYPE_IQ1_S: be = QK_K; bb = sizeof(block_iq1_s); break;
    case BL_TYPE_IQ1_M: be = QK_K; bb = sizeof(block_iq1_m); break;
    case BL_TYPE_IQ4_NL: be = 32; bb = sizeof(block_iq4_nl); break;
    case BL_TYPE_IQ4_XS: be = QK_K; bb = sizeof(block_iq4_xs); break;
    case BL_TYPE_TQ1_0: be = QK_K; bb = sizeof(block_tq1_0); break;
    case BL_TYPE_TQ2_0: be = QK_K; bb = sizeof(block_tq2_0); break;
    case BL_TYPE_I2_S: be = QK_I2_S; bb = I2_S_BLOCK_BYTES; break;
    case BL_TYPE_MXFP4: be = 32; bb = sizeof(block_mxfp4); break;
    case BL_TYPE_NVFP4: be = 64; bb = sizeof(block_nvfp4); break;
    case BL_TYPE_Q1_0: be = 128; bb = sizeof(block_q1_0); break;
    case BL_TYPE_Q2_0: be = 64; bb = sizeof(block_q2_0); break;
    default: return 0;
  }
  if (block_elements) *block_elements = be;
  if (block_bytes) *block_bytes = bb;
  return 1;
}
