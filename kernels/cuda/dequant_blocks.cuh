/*
 * Per-element block decoders shared by the device kernels and the host emulation
 * (blc_dequantize_host). Each decoder returns element j of one block, evaluating exactly the expression
 * that kernels/dequant_ref.c evaluates for that element, in the same operand order:
 *
 *   Q8_0, Q4_0          (float)q * d
 *   Q4_K, Q5_K          (d * sc) * (float)q - (dmin * m)      three roundings, no FMA
 *   Q6_K                (d * (float)sc) * (float)q            two roundings
 *   TQ1_0, TQ2_0        (float)(q - 1) * d
 *   I2_S                (float)map2bit[code] * scale
 *   F16, BF16, F32      bit conversions, no arithmetic
 *
 * Float operations go through blc_mul / blc_sub: __fmul_rn / __fsub_rn on the device (never contracted
 * into an FMA, never flushed to zero with -ftz=false), then x86's NaN rules are re-applied: a NaN
 * operand comes out quieted (first operand first), an invalid operation (0 * Inf, Inf - Inf) gives x86's
 * default NaN 0xffc00000. NVIDIA GPUs return the canonical NaN 0x7fffffff instead; without the fix-up
 * the outputs would differ from the CPU kernels exactly where the inputs hold NaN or Inf.
 */
#ifndef BITLOAD_CUDA_DEQUANT_BLOCKS_CUH
#define BITLOAD_CUDA_DEQUANT_BLOCKS_CUH

#include <stdint.h>
#include <string.h>

#define BLC_HD __host__ __device__ __forceinline__

/* Type ids (ggml's; 36 = BitNet I2_S). */
#define BLC_T_F32 0
#define BLC_T_F16 1
#define BLC_T_Q4_0 2
#define BLC_T_Q8_0 8
#define BLC_T_Q4_K 12
#define BLC_T_Q5_K 13
#define BLC_T_Q6_K 14
#define BLC_T_BF16 30
#define BLC_T_TQ1_0 34
#define BLC_T_TQ2_0 35
#define BLC_T_I2_S 36

/* Host emulation only: make float results NaN the GPU way (0x7fffffff) before the fix-up. */
static int blc_host_canonical_nan = 0;

BLC_HD uint32_t blc_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
#endif
}

BLC_HD float blc_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
#endif
}

BLC_HD bool blc_is_nan_bits(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }

/* x86 NaN rules for r = a op b (see the file comment). */
BLC_HD float blc_x86_nan(float r, float a, float b) {
  if (!blc_is_nan_bits(blc_bits(r))) return r;
  const uint32_t ab = blc_bits(a), bb = blc_bits(b);
  if (blc_is_nan_bits(ab)) return blc_float(ab | 0x00400000u);
  if (blc_is_nan_bits(bb)) return blc_float(bb | 0x00400000u);
  return blc_float(0xffc00000u);
}

BLC_HD float blc_mul(float a, float b) {
#ifdef __CUDA_ARCH__
  const float r = __fmul_rn(a, b);
#else
  float r = a * b;
  if (blc_host_canonical_nan && blc_is_nan_bits(blc_bits(r))) r = blc_float(0x7fffffffu);
#endif
  return blc_x86_nan(r, a, b);
}

BLC_HD float blc_sub(float a, float b) {
#ifdef __CUDA_ARCH__
  const float r = __fsub_rn(a, b);
#else
  float r = a - b;
  if (blc_host_canonical_nan && blc_is_nan_bits(blc_bits(r))) r = blc_float(0x7fffffffu);
#endif
  return blc_x86_nan(r, a, b);
}

/* int -> float, exact for every value the decoders produce (|v| < 2^24). */
BLC_HD float blc_i2f(int v) {
#ifdef __CUDA_ARCH__
  return __int2float_rn(v);
#else
  return (float)v;
#endif
}

/*
 * binary16 -> binary32 in integer arithmetic. Gives the bits of ggml_compute_fp16_to_fp32 on x86 (and of
 * F16C) for all 65,536 inputs: exact for numbers, NaNs keep their payload with the quiet bit set.
 */
BLC_HD float blc_h2f(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 31u;
  uint32_t m = h & 0x3ffu;
  uint32_t bits;
  if (e == 31u) {
    bits = 0x7f800000u | (m << 13) | (m ? 0x00400000u : 0u);
  } else if (e == 0u) {
    if (m == 0u) {
      bits = 0u;
    } else {
      int ee = 1;
      while (!(m & 0x400u)) {
        m <<= 1;
        ee--;
      }
      bits = ((uint32_t)(ee + 112) << 23) | ((m & 0x3ffu) << 13);
    }
  } else {
    bits = ((e + 112u) << 23) | (m << 13);
  }
  return blc_float(sign | bits);
}

/*
 * binary32 -> binary16, round to nearest even, in integer arithmetic (the same bits as ggml's
 * ggml_fp32_to_fp16 / GGML_FP32_TO_FP16 in libggml-base, and bitload's one TypeScript converter
 * fp32ToFp16Bits): overflow to Inf, gradual underflow, every NaN -> sign | 0x7e00 (the payload is
 * dropped, as ggml's software conversion does; F16C would keep its top 10 bits).
 */
BLC_HD uint16_t blc_f2h(float f) {
  const uint32_t x = blc_bits(f);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (and Inf) */
  if (ax >= 0x38800000u) {                                   /* a normal binary16 */
    uint32_t h = (ax >> 13) - (112u << 10);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
  }
  if (ax < 0x33000000u) return sign; /* below half the smallest subnormal, ties included */
  const uint32_t exp = ax >> 23;
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t s = 126u - exp; /* 14..24 */
  uint32_t h = mant >> s;
  const uint32_t rem = mant & ((1u << s) - 1u);
  const uint32_t half = 1u << (s - 1u);
  if (rem > half || (rem == half && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

BLC_HD uint16_t blc_u16(const uint8_t *p) { return (uint16_t)(p[0] | ((uint16_t)p[1] << 8)); }

BLC_HD uint32_t blc_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ggml-quants.c get_scale_min_k4 */
BLC_HD void blc_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

/* Elements and bytes per block of the types the CUDA kernels support; 0 when unsupported. */
BLC_HD int blc_geometry(int type, int *elements, int *bytes) {
  switch (type) {
    case BLC_T_F32: *elements = 1; *bytes = 4; return 1;
    case BLC_T_F16: *elements = 1; *bytes = 2; return 1;
    case BLC_T_BF16: *elements = 1; *bytes = 2; return 1;
    case BLC_T_Q4_0: *elements = 32; *bytes = 18; return 1;
    case BLC_T_Q8_0: *elements = 32; *bytes = 34; return 1;
    case BLC_T_Q4_K: *elements = 256; *bytes = 144; return 1;
    case BLC_T_Q5_K: *elements = 256; *bytes = 176; return 1;
    case BLC_T_Q6_K: *elements = 256; *bytes = 210; return 1;
    case BLC_T_TQ1_0: *elements = 256; *bytes = 54; return 1;
    case BLC_T_TQ2_0: *elements = 256; *bytes = 66; return 1;
    case BLC_T_I2_S: *elements = 128; *bytes = 32; return 1;
    default: return 0;
  }
}

/*
 * Element j of the block at `b`, as f32. `scale` is the I2_S tensor scale (ignored otherwise).
 * Only instantiated for the types above.
 */
template <int T>
BLC_HD float blc_decode(const uint8_t *b, int j, float scale) {
  if (T == BLC_T_F32) {
    return blc_float(blc_u32(b));
  } else if (T == BLC_T_F16) {
    return blc_h2f(blc_u16(b));
  } else if (T == BLC_T_BF16) {
    return blc_float((uint32_t)blc_u16(b) << 16);
  } else if (T == BLC_T_Q8_0) {
    /* d (f16), qs[32] int8 */
    const float d = blc_h2f(blc_u16(b));
    return blc_mul(blc_i2f((int8_t)b[2 + j]), d);
  } else if (T == BLC_T_Q4_0) {
    /* d (f16), qs[16]: element j < 16 is the low nibble of qs[j], j >= 16 the high nibble of qs[j-16] */
    const float d = blc_h2f(blc_u16(b));
    const uint8_t q = b[2 + (j & 15)];
    const int x = (j < 16 ? (q & 0x0F) : (q >> 4)) - 8;
    return blc_mul(blc_i2f(x), d);
  } else if (T == BLC_T_Q4_K || T == BLC_T_Q5_K) {
    /* d, dmin (f16), scales[12], [Q5_K: qh[32]], qs[128] */
    const float d = blc_h2f(blc_u16(b));
    const float min = blc_h2f(blc_u16(b + 2));
    const uint8_t *scales = b + 4;
    const int c = j >> 6;          /* 64-element chunk */
    const int hi = (j >> 5) & 1;   /* second half of the chunk: high nibbles */
    const int l = j & 31;
    int sc, m;
    blc_scale_min_k4(2 * c + hi, scales, &sc, &m);
    const float d1 = blc_mul(d, blc_i2f(sc));
    const float m1 = blc_mul(min, blc_i2f(m));
    int q;
    if (T == BLC_T_Q4_K) {
      const uint8_t ql = b[16 + 32 * c + l];
      q = hi ? (ql >> 4) : (ql & 0xF);
    } else {
      const uint8_t qh = b[16 + l];
      const uint8_t ql = b[48 + 32 * c + l];
      const int u = (hi ? 2 : 1) << (2 * c);
      q = (hi ? (ql >> 4) : (ql & 0xF)) + ((qh & u) ? 16 : 0);
    }
    return blc_sub(blc_mul(d1, blc_i2f(q)), m1);
  } else if (T == BLC_T_Q6_K) {
    /* ql[128], qh[64], scales[16] int8, d (f16) */
    const float d = blc_h2f(blc_u16(b + 208));
    const int h = j >> 7; /* 128-element half */
    const int w = j & 127;
    const int k = w >> 5; /* quarter: which of q1..q4 */
    const int l = w & 31;
    const uint8_t *ql = b + 64 * h;
    const uint8_t *qh = b + 128 + 32 * h;
    const int8_t *sc = (const int8_t *)(b + 192 + 8 * h);
    const int is = l / 16;
    const uint8_t lo = (k & 1) ? ql[l + 32] : ql[l];
    const int low = (k & 2) ? (lo >> 4) : (lo & 0xF);
    const int q = (int8_t)(low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
    return blc_mul(blc_mul(d, blc_i2f(sc[is + 2 * k])), blc_i2f(q));
  } else if (T == BLC_T_TQ2_0) {
    /* qs[64], d (f16): 32-byte groups, each byte gives 4 elements 32 apart */
    const float d = blc_h2f(blc_u16(b + 64));
    const int g = j >> 7;
    const int w = j & 127;
    const int shift = 2 * (w >> 5);
    const int q = (b[32 * g + (w & 31)] >> shift) & 3;
    return blc_mul(blc_i2f(q - 1), d);
  } else if (T == BLC_T_TQ1_0) {
    /* qs[48], qh[4], d (f16); base-3 digits extracted by multiplying with powers of 3 */
    const float d = blc_h2f(blc_u16(b + 52));
    uint8_t byte;
    int n;
    if (j < 160) {
      n = j >> 5;
      byte = b[j & 31];
    } else if (j < 240) {
      n = (j - 160) >> 4;
      byte = b[32 + ((j - 160) & 15)];
    } else {
      n = (j - 240) >> 2;
      byte = b[48 + ((j - 240) & 3)];
    }
    const uint8_t pow3 = (uint8_t)(n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81);
    const uint8_t q = (uint8_t)(byte * pow3);
    const int xi = (int)(((uint16_t)q * 3) >> 8);
    return blc_mul(blc_i2f(xi - 1), d);
  } else { /* BLC_T_I2_S: 32 bytes of codes per 128 elements; byte p holds p, 32+p, 64+p, 96+p */
    const int g = j >> 5;
    const int code = (b[j & 31] >> (6 - 2 * g)) & 3;
    return blc_mul(blc_i2f(code == 0 ? -1 : code == 2 ? 1 : 0), scale);
  }
}

/* I2_S code -> -1/0/+1 (map2bit; code 3 decodes to 0). */
BLC_HD int blc_i2s_value(int code) { return code == 0 ? -1 : code == 2 ? 1 : 0; }

/* One I2_S matvec output from its exact integer sum: ((float)isum * x_scale) * w_scale. */
BLC_HD float blc_i2s_scale_sum(int isum, float x_scale, float w_scale) {
  return blc_mul(blc_mul(blc_i2f(isum), x_scale), w_scale);
}

#endif /* BITLOAD_CUDA_DEQUANT_BLOCKS_CUH */
