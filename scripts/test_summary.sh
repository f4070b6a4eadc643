#!/usr/bin/env bash
# Turns deno test's summary ("ok | 12 passed (30 steps) | 1 failed | 2 ignored (1 step) (3s)")
# into the plain line CI recognises: "42 passed, 1 failed, 3 skipped" (steps counted in).
# With no summary line (a type error, a crash) it prints "0 passed, 1 failed, 0 skipped" and
# exits 1.
log="$1"
line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1)
if [ -z "$line" ]; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "$line" | awk -F' \\| ' '
  {
    p = 0; f = 0; s = 0
    for (i = 2; i <= NF; i++) {
      split($i, w, " ")
      n = w[1] + 0
      if (match($i, /\(([0-9]+) steps?\)/)) {
        inner = substr($i, RSTART + 1, RLENGTH - 2)
        split(inner, sw, " ")
        n += sw[1] + 0
      }
      if (w[2] == "passed") p += n
      else if (w[2] == "failed") f += n
      else if (w[2] == "ignored") s += n
    }
    printf "%d passed, %d failed, %d skipped\n", p, f, s
    exit (f > 0 ? 1 : 0)
  }'
