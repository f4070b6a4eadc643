/*
 * The GGUF header parser's hot loop (src/gguf/parse.ts, readStringArray) in C: a string array is
 * a run of (u64 length, bytes) pairs, and a 128k-token vocabulary holds 408k of them (tokens and
 * merges). For each string this reads the length, checks it against the limit, checks that the
 * bytes are well-formed UTF-8 and records where the string starts. The TypeScript loop is the twin
 * and the fallback: this scan stops, without judging, at the first string it cannot accept (its
 * bytes not all in the buffer, too long, not UTF-8), and the TypeScript loop takes that string on
 * (reads more bytes, or raises the typed error with its message), so both give the same result.
 *
 * UTF-8 rules are those of the Unicode Standard, Table 3-7 (the set TextDecoder's fatal mode
 * accepts, and src/gguf/utf8.ts's isWellFormedUtf8): no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 *
 * A byte-at-a-time check mispredicts a branch every few bytes on byte-level BPE text (ASCII and
 * two-byte `Ġ` mixed), ~5 ns a byte. So strings are checked as runs: while every length prefix is
 * ASCII (lengths whose bytes are all below 0x80: almost every token), the run of strings and
 * prefixes is one stream, and the stream is well-formed exactly when every string in it is (an
 * ASCII byte ends any sequence, so a sequence cut by a string's end, or a string starting with a
 * continuation byte, is an error in the stream too). A prefix with a byte >= 0x80 ends the run.
 * The stream check is the lookup algorithm of Keiser and Lemire, "Validating UTF-8 in less than
 * one instruction per byte" (Software: Practice and Experience 51 (5), 2021), with AVX2, 32 bytes
 * a step: the error classes and nibble tables of utf8_block_errors and the bounds of
 * utf8_incomplete follow simdutf's src/generic/utf8_validation/utf8_lookup4_algorithm.h
 * (github.com/simdutf/simdutf; Apache-2.0 or MIT at the user's choice, taken under MIT),
 * rewritten with AVX2 intrinsics. The scalar check is used at BL_SIMD_SCALAR and off x86. A run
 * that fails is checked string by string to find the string to stop at.
 */
#include <string.h>

#include "internal.h"

/* Whether buf[i, end) is well-formed UTF-8. */
static int well_formed(const uint8_t *buf, int64_t i, int64_t end) {
  while (i < end) {
    if (end - i >= 8) {
      uint64_t w;
      memcpy(&w, buf + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const uint8_t b0 = buf[i];
    if (b0 < 0x80) {
      i++;
      continue;
    }
    if (b0 < 0xc2) return 0; /* continuation byte or overlong 2-byte lead */
    if (b0 < 0xe0) {
      if (i + 1 >= end || (buf[i + 1] & 0xc0) != 0x80) return 0;
      i += 2;
      continue;
    }
    if (b0 < 0xf0) {
      if (i + 2 >= end) return 0;
      const uint8_t b1 = buf[i + 1];
      if ((b1 & 0xc0) != 0x80 || (buf[i + 2] & 0xc0) != 0x80) return 0;
      if (b0 == 0xe0 && b1 < 0xa0) return 0; /* overlong */
      if (b0 == 0xed && b1 >= 0xa0) return 0; /* surrogate */
      i += 3;
      continue;
    }
    if (b0 < 0xf5) {
      if (i + 3 >= end) return 0;
      const uint8_t b1 = buf[i + 1];
      if ((b1 & 0xc0) != 0x80 || (buf[i + 2] & 0xc0) != 0x80 || (buf[i + 3] & 0xc0) != 0x80) return 0;
      if (b0 == 0xf0 && b1 < 0x90) return 0; /* overlong */
      if (b0 == 0xf4 && b1 >= 0x90) return 0; /* above U+10FFFF */
      i += 4;
      continue;
    }
    return 0;
  }
  return 1;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define BL_UTF8_TARGET __attribute__((target("avx2")))

/* Error classes of a byte pair (first byte's high nibble, its low nibble, second byte's high
 * nibble); a pair is an error when the three lookups share a bit (simdutf's names). */
enum {
  TOO_SHORT = 1 << 0,   /* 11______ 0_______ or 11______ 11______ */
  TOO_LONG = 1 << 1,    /* 0_______ 10______ */
  OVERLONG_3 = 1 << 2,  /* 11100000 100_____ */
  TOO_LARGE = 1 << 3,   /* 11110100 1001____ and above */
  SURROGATE = 1 << 4,   /* 11101101 101_____ */
  OVERLONG_2 = 1 << 5,  /* 1100000_ 10______ */
  TOO_LARGE_1000 = 1 << 6,
  OVERLONG_4 = 1 << 6,  /* 11110000 1000____ */
  TWO_CONTS = 1 << 7,   /* 10______ 10______ */
  CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS
};

#define T16(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)

static BL_UTF8_TARGET inline __m256i utf8_block_errors(__m256i in, __m256i prev_in) {
  const __m256i byte_1_high = T16(TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
                                  TOO_LONG, TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
                                  TOO_SHORT | OVERLONG_2, TOO_SHORT, TOO_SHORT | OVERLONG_3 | SURROGATE,
                                  TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4);
  const __m256i byte_1_low =
      T16(CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY, CARRY | TOO_LARGE,
          CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
          CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
          CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
          CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
          CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, CARRY | TOO_LARGE | TOO_LARGE_1000,
          CARRY | TOO_LARGE | TOO_LARGE_1000);
  const __m256i byte_2_high =
      T16(TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
          TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
          TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
          TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
          TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE, TOO_SHORT, TOO_SHORT, TOO_SHORT,
          TOO_SHORT);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  /* the 32 bytes before each position: prev_in's upper lane then in's lower lane */
  const __m256i carried = _mm256_permute2x128_si256(prev_in, in, 0x21);
  const __m256i prev1 = _mm256_alignr_epi8(in, carried, 15);
  const __m256i prev2 = _mm256_alignr_epi8(in, carried, 14);
  const __m256i prev3 = _mm256_alignr_epi8(in, carried, 13);
  const __m256i sc = _mm256_and_si256(
      _mm256_and_si256(
          _mm256_shuffle_epi8(byte_1_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble)),
          _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, nibble))),
      _mm256_shuffle_epi8(byte_2_high, _mm256_and_si256(_mm256_srli_epi16(in, 4), nibble)));
  /* third and fourth bytes of a sequence must be continuations (TWO_CONTS is right only there) */
  const __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xe0 - 0x80)));
  const __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xf0 - 0x80)));
  const __m256i must23_80 = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
  return _mm256_xor_si256(must23_80, sc);
}

/* Nonzero where the block's last bytes start a sequence that needs bytes past the block. */
static BL_UTF8_TARGET inline __m256i utf8_incomplete(__m256i in) {
  const __m256i max = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                       -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)(0xf0 - 1),
                                       (char)(0xe0 - 1), (char)(0xc0 - 1));
  return _mm256_subs_epu8(in, max);
}

static BL_UTF8_TARGET int well_formed_avx2(const uint8_t *p, int64_t len) {
  __m256i prev = _mm256_setzero_si256();
  __m256i err = _mm256_setzero_si256();
  __m256i incomplete = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= len; i += 32) {
    const __m256i in = _mm256_loadu_si256((const __m256i *)(p + i));
    if (_mm256_movemask_epi8(in) == 0) {
      err = _mm256_or_si256(err, incomplete); /* ASCII cannot finish what the last block began */
      incomplete = _mm256_setzero_si256();
    } else {
      err = _mm256_or_si256(err, utf8_block_errors(in, prev));
      incomplete = utf8_incomplete(in);
    }
    prev = in;
  }
  if (i < len) {
    /* the tail, padded with zeros: an ASCII byte after the end flags a sequence cut short */
    uint8_t tail[32] = {0};
    memcpy(tail, p + i, (size_t)(len - i));
    err = _mm256_or_si256(err, utf8_block_errors(_mm256_loadu_si256((const __m256i *)tail), prev));
  } else {
    err = _mm256_or_si256(err, incomplete);
  }
  return _mm256_testz_si256(err, err);
}
#endif

/* Whether buf[start, end) is well-formed UTF-8, as a stream. */
static int well_formed_run(const uint8_t *buf, int64_t start, int64_t end) {
#if defined(__x86_64__) || defined(__i386__)
  const int level = bl_thread_level();
  if (level == BL_SIMD_AVX2 || level == BL_SIMD_AVX512) return well_formed_avx2(buf + start, end - start);
#endif
  return well_formed(buf, start, end);
}

static uint64_t load_u64(const uint8_t *p, int big_endian) {
  uint64_t v = 0;
  if (big_endian) {
    for (int k = 0; k < 8; k++) v = (v << 8) | p[k];
  } else {
    for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
  }
  return v;
}

/*
 * Checks the run of strings from..to-1 (prefixes from bounds) as one stream, from the start of
 * string `from` to the end of string to-1 at `end`; returns `to` when it is well-formed, else the
 * first string of the run that is not (checked one by one).
 */
static int64_t check_run(const uint8_t *buf, int64_t from, int64_t to, int64_t start, int64_t end,
                         int big_endian, int wide, const double *bf, const uint32_t *bu) {
  if (from >= to || well_formed_run(buf, start, end)) return to;
  for (int64_t k = from; k < to; k++) {
    const int64_t s = wide ? (int64_t)bf[k] : (int64_t)bu[k];
    const int64_t e = s + (int64_t)load_u64(buf + s - 8, big_endian);
    if (!well_formed(buf, s, e)) return k;
  }
  return to; /* not reached: a failing stream has a failing string */
}

BL_API int64_t bl_gguf_scan_strings(const uint8_t *buf, int64_t buf_len, int64_t pos, int64_t first,
                                    int64_t n, int32_t flags, int64_t max_len, void *bounds,
                                    int64_t *end_pos) {
  const int big_endian = (flags & BL_GGUF_SCAN_BIG_ENDIAN) != 0;
  const int wide = (flags & BL_GGUF_SCAN_F64_BOUNDS) != 0;
  double *bounds_f64 = (double *)bounds;
  uint32_t *bounds_u32 = (uint32_t *)bounds;
  /* the open run: strings run_from..i-1, from run_start (its first string's start) on */
  int64_t run_from = first;
  int64_t run_start = pos + 8;
  int64_t i = first;
  for (; i < n; i++) {
    if (pos + 8 > buf_len) break;
    uint64_t prefix;
    memcpy(&prefix, buf + pos, 8);
    const uint64_t len = load_u64(buf + pos, big_endian);
    if (len > (uint64_t)max_len || (int64_t)len > buf_len - pos - 8) break;
    if ((prefix & 0x8080808080808080ull) != 0) {
      /* a prefix byte >= 0x80 could pass as part of a sequence: close the run before it */
      const int64_t bad = check_run(buf, run_from, i, run_start, pos, big_endian, wide, bounds_f64, bounds_u32);
      if (bad < i) {
        *end_pos = wide ? (int64_t)bounds_f64[bad] - 8 : (int64_t)bounds_u32[bad] - 8;
        return bad;
      }
      run_from = i;
      run_start = pos + 8;
    }
    const int64_t start = pos + 8;
    if (wide) {
      bounds_f64[i] = (double)start;
    } else {
      bounds_u32[i] = (uint32_t)start;
    }
    pos = start + (int64_t)len;
  }
  const int64_t bad = check_run(buf, run_from, i, run_start, pos, big_endian, wide, bounds_f64, bounds_u32);
  if (bad < i) {
    *end_pos = wide ? (int64_t)bounds_f64[bad] - 8 : (int64_t)bounds_u32[bad] - 8;
    return bad;
  }
  *end_pos = pos;
  return i;
}
