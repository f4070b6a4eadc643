/*
 * Element-wise steps of the forward pass: RMSNorm, rotary position embedding (RoPE) and the
 * residual add. Each gives the bits of its TypeScript twin in src/infer/model.ts (the reference
 * backend): RMSNorm and RoPE in ggml's f32/f64 arithmetic (see bl_rms_norm, bl_rope), RoPE from
 * the cos/sin tables the caller computed (bl_rope_cache: ggml's, with the C library's cosf/sinf).
 */
#include "internal.h"

/**
 * out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for `rows` rows of `width` (out may alias x), in
 * ggml's arithmetic (ggml_compute_forward_rms_norm_f32, then ggml_mul by the weight): f32 squares
 * summed in double, the mean rounded to f32, scale = 1.0f / sqrtf(mean + (float)eps), then two f32
 * products x * scale and * w.
 */
BL_API void bl_rms_norm(const float *x, const float *w, int64_t rows, int64_t width, double eps,
                      float *out) {
  const float epsf = (float)eps;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * width;
    float *o = out + r * width;
    double ss = 0.0;
    for (int64_t i = 0; i < width; i++) ss += (double)(xr[i] * xr[i]);
    const float mean = (float)(ss / (double)width);
    const float scale = 1.0f / sqrtf(mean + epsf);
    for (int64_t i = 0; i < width; i++) {
      const float y = xr[i] * scale;
      o[i] = y * w[i];
    }
  }
}

/**
 * Rotates `ntok` rows of `heads` heads of `head_dim` in place: pairs (i, i + half) when `neox`
 * (GPT-NeoX style, bitnet), else (2i, 2i + 1) (llama), for i < half = n_rot / 2, with token t's
 * tables cos[t * half + i], sin[t * half + i]. ggml's arithmetic as the llama.cpp builds compute
 * it (clang contracts `x0*c - x1*s` into one fma): fma(x0, c, -(x1 * s)) and fma(x0, s, x1 * c).
 */
BL_API void bl_rope(float *v, int64_t ntok, int32_t heads, int32_t head_dim, int32_t half,
                  const float *cos_t, const float *sin_t, int32_t neox) {
  for (int64_t t = 0; t < ntok; t++) {
    const float *c = cos_t + t * half, *s = sin_t + t * half;
    for (int32_t h = 0; h < heads; h++) {
      float *b = v + (t * heads + h) * (int64_t)head_dim;
      for (int32_t i = 0; i < half; i++) {
        int32_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const float x0 = b[i0], x1 = b[i1];
        const float x1s = x1 * s[i], x1c = x1 * c[i];
        b[i0] = fmaf(x0, c[i], -x1s);
        b[i1] = fmaf(x0, s[i], x1c);
      }
    }
  }
}

/**
 * RoPE tables of ggml_rope_cache_init for positions pos0 .. pos0 + ntok - 1: theta starts at the
 * position (as f32) and is multiplied by `theta_scale` (powf(base, -2 / n_rot)) in f32 for each
 * pair; cos[t * half + i] = cosf(theta), sin[...] = sinf(theta) from the C library, as ggml.
 */
BL_API void bl_rope_cache(int64_t pos0, int64_t ntok, int32_t half, float theta_scale, float *cos_t,
                        float *sin_t) {
  for (int64_t t = 0; t < ntok; t++) {
    float theta = (float)(pos0 + t);
    for (int32_t i = 0; i < half; i++) {
      cos_t[t * half + i] = cosf(theta);
      sin_t[t * half + i] = sinf(theta);
      theta *= theta_scale;
    }
  }
}

/** The f32 powf(base, exponent) of the C library (ggml's RoPE theta scale). */
BL_API float bl_powf(float base, float exponent) { return powf(base, exponent); }

/** x[i] += o[i] for i < n. */
BL_API void bl_add(float *x, const float *o, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] += o[i];
}
