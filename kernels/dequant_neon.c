/*
 * AArch64 Advanced SIMD dequantizers. Guarded so the file compiles to the empty filler elsewhere.
 * Same rule as the x86 files: one multiply per element (then one subtract where ggml subtracts a min),
 * with the per-group scales computed in scalar code in ggml's operand order, so results are
 * bit-identical to dequant_ref.c. Types without a NEON kernel keep the scalar one.
 */
#include "internal.h"

#if defined(__aarch64__)

#include <arm_neon.h>

/* y[k] = (float)q[k] * d for 16 signed bytes. */
static inline void emit16_neon(float *y, int8x16_t q, float d) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(q));
  const int16x8_t hi = vmovl_s8(vget_high_s8(q));
  const float32x4_t vd = vdupq_n_f32(d);
  vst1q_f32(y + 0, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vd));
  vst1q_f32(y + 4, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))), vd));
  vst1q_f32(y + 8, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vd));
  vst1q_f32(y + 12, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))), vd));
}

/* ggml-quants.c dequantize_row_q8_0 */
static void deq_q8_0_neon(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q8_0 *x = (const block_q8_0 *)src;
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    emit16_neon(y, vld1q_s8(x[i].qs), d);
    emit16_neon(y + 16, vld1q_s8(x[i].qs + 16), d);
  }
}

/* ggml-quants.c dequantize_row_q4_0 */
static void deq_q4_0_neon(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_0 *x = (const block_q4_0 *)src;
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8x16_t q = vld1q_u8(x[i].qs);
    emit16_neon(y, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight), d);
    emit16_neon(y + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight), d);
  }
}

/* BitNet I2_S (see dequant_ref.c): map2bit {-1, 0, +1, 0} through a table lookup. */
static void deq_i2_s_neon(const uint8_t *src, float *y, int64_t nb, float scale) {
  static const int8_t map2bit[16] = {-1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0};
  const int8x16_t table = vld1q_s8(map2bit);
  const uint8x16_t m3 = vdupq_n_u8(3);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8x16_t q0 = vld1q_u8(src + i * I2_S_BLOCK_BYTES);
    const uint8x16_t q1 = vld1q_u8(src + i * I2_S_BLOCK_BYTES + 16);
    for (int g = 0; g < 4; ++g, y += 32) {
      const int8x16_t shift = vdupq_n_s8((int8_t)-(6 - 2 * g));
      emit16_neon(y, vqtbl1q_s8(table, vandq_u8(vshlq_u8(q0, shift), m3)), scale);
      emit16_neon(y + 16, vqtbl1q_s8(table, vandq_u8(vshlq_u8(q1, shift), m3)), scale);
    }
  }
}

/* ggml-quants.c dequantize_row_tq2_0 */
static void deq_tq2_0_neon(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_tq2_0 *x = (const block_tq2_0 *)src;
  const uint8x16_t m3 = vdupq_n_u8(3);
  const int8x16_t one = vdupq_n_s8(1);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int j = 0; j < QK_K / 4; j += 32) {
      const uint8x16_t q0 = vld1q_u8(x[i].qs + j);
      const uint8x16_t q1 = vld1q_u8(x[i].qs + j + 16);
      for (int l = 0; l < 4; ++l, y += 32) {
        const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * l));
        emit16_neon(y, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, shift), m3)), one), d);
        emit16_neon(y + 16, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, shift), m3)), one), d);
      }
    }
  }
}

void bl_fill_neon_kernels(bl_kernel_fn table[BL_TYPE_COUNT]) {
  table[BL_TYPE_Q8_0] = deq_q8_0_neon;
  table[BL_TYPE_Q4_0] = deq_q4_0_neon;
  table[BL_TYPE_I2_S] = deq_i2_s_neon;
  table[BL_TYPE_TQ2_0] = deq_tq2_0_neon;
}

#else

void bl_fill_neon_kernels(bl_kernel_fn table[BL_TYPE_COUNT]) { (void)table; }

#endif
