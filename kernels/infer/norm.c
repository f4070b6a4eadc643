/*
 * Element-wise steps of the forward pass: RMSNorm, rotary position embedding (RoPE) and the
 * residual add. Each gives the bits of its TypeScript twin in src/infer/model.ts (the reference
 * backend): sums and products in double, in the same order, rounded to float when stored, and
 * RoPE reads the cos/sin tables the caller computed.
 */
#include "internal.h"

/** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for `rows` rows of `width` (out may alias x). */
BL_API void bl_rms_norm(const float *x, const float *w, int64_t rows, int64_t width, double eps,
                      float *out) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * width;
    float *o = out + r * width;
    double ss = 0.0;
    for (int64_t i = 0; i < width; i++) ss += (double)xr[i] * (double)xr[i];
    double scale = 1.0 / sqrt(ss / (double)width + eps);
    for (int64_t i = 0; i < width; i++) o[i] = (float)((double)xr[i] * scale * (double)w[i]);
  }
}

/**
 * Rotates `ntok` rows of `heads` heads of `head_dim` in place: pairs (i, i + half) when `neox`
 * (GPT-NeoX style, bitnet), else (2i, 2i + 1) (llama), for i < half = n_rot / 2, with token t's
 * tables cos[t * half + i], sin[t * half + i].
 */
BL_API void bl_rope(float *v, int64_t ntok, int32_t heads, int32_t head_dim, int32_t half,
                  const float *cos_t, const float *sin_t, int32_t neox) {
  for (int64_t t = 0; t < ntok; t++) {
    const float *c = cos_t + t * half, *s = sin_t + t * half;
    for (int32_t h = 0; h < heads; h++) {
      float *b = v + (t * heads + h) * (int64_t)head_dim;
      for (int32_t i = 0; i < half; i++) {
        int32_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        double x0 = b[i0], x1 = b[i1];
        b[i0] = (float)(x0 * c[i] - x1 * s[i]);
        b[i1] = (float)(x0 * s[i] + x1 * c[i]);
      }
    }
  }
}

/** x[i] += o[i] for i < n. */
BL_API void bl_add(float *x, const float *o, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] += o[i];
}
