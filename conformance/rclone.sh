#!/usr/bin/env bash
# rclone against a real granary: sync a tree of a few hundred files (plus two large ones,
# names with spaces, unicode and punctuation) up, check, sync back, propagate deletions,
# lsf, purge.
source "$(dirname "$0")/lib.sh"
start_granary

W="$(scratch_dir)"
rclone_setup "$W"
rc() { rclone_g --transfers 8 --checkers 8 "$@"; }

B=conf-rclone
SRC="$W/src"

log "building the source tree"
python3 - "$SRC" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(1234)
dirs = ["alpha", "alpha/beta", "alpha/beta/gamma", "with space", "ünïcödé/日本語",
        "punct/a+b=c&d", "deep/1/2/3/4"]
n = 0
for d in dirs:
    os.makedirs(os.path.join(root, d), exist_ok=True)
    for i in range(45):
        name = ["file-%03d.txt", "f %03d with spaces.dat", "ファイル-%03d.bin", "x%03d (copy) #1.txt",
                "pct %03d%%20.txt", "plus+%03d.txt", "émoji-🎉-%03d"][i % 7] % i
        with open(os.path.join(root, d, name), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(0, 6000)))
        n += 1
open(os.path.join(root, "empty-file"), "wb").close()
with open(os.path.join(root, "big one.bin"), "wb") as f:
    f.write(os.urandom(17 * 1024 * 1024 + 3))
with open(os.path.join(root, "alpha", "médium.bin"), "wb") as f:
    f.write(os.urandom(3 * 1024 * 1024 + 1))
PY
nfiles="$(find "$SRC" -type f | wc -l)"
log "source tree: $nfiles files"

log "sync up"
run_ok "sync up" rc sync "$SRC" "G:$B/tree"
run_ok "check" rc check "$SRC" "G:$B/tree"
run_ok "check --download" rc check --download "$SRC" "G:$B/tree"

log "lsf -R"
run_ok "lsf -R" rc lsf -R --files-only "G:$B/tree"
printf '%s\n' "$OUT" | LC_ALL=C sort >"$W/remote.list"
(cd "$SRC" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$W/local.list"
diff "$W/local.list" "$W/remote.list" >"$W/list.diff" \
    || fail "rclone lsf -R does not match the local tree: $(head -n 20 "$W/list.diff")"
run_ok "size" rc size --json "G:$B/tree"
want_bytes="$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')"
assert_eq "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["bytes"])' <<<"$OUT")" \
    "$nfiles $want_bytes" "rclone size (count bytes)"

log "sync down"
run_ok "sync down" rc sync "G:$B/tree" "$W/down"
diff -r "$SRC" "$W/down" >"$W/down.diff" || fail "tree synced down differs: $(head -n 20 "$W/down.diff")"

log "second sync is a no-op"
run_ok "sync up again" rc sync -v "$SRC" "G:$B/tree"
grep -q "Copied" "$W/err" && fail "second sync copied files although nothing changed: $(grep Copied "$W/err" | head)"

log "deletions and changes propagate"
rm "$SRC/alpha/file-000.txt" "$SRC/with space/f 001 with spaces.dat" "$SRC/ünïcödé/日本語/ファイル-002.bin" \
    "$SRC/punct/a+b=c&d/plus+005.txt" "$SRC/big one.bin"
rm -r "$SRC/deep"
printf 'changed content\n' >"$SRC/alpha/beta/file-007.txt"
run_ok "sync after deletions" rc sync "$SRC" "G:$B/tree"
run_ok "check after deletions" rc check "$SRC" "G:$B/tree"
run_ok "lsf after deletions" rc lsf -R --files-only "G:$B/tree"
printf '%s\n' "$OUT" | LC_ALL=C sort >"$W/remote2.list"
(cd "$SRC" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$W/local2.list"
diff "$W/local2.list" "$W/remote2.list" >"$W/list2.diff" \
    || fail "deletions did not propagate: $(head -n 20 "$W/list2.diff")"
for gone in "alpha/file-000.txt" "with space/f 001 with spaces.dat" "big one.bin" "deep/1/2/3/4/file-000.txt"; do
    grep -qxF "$gone" "$W/remote2.list" && fail "deleted file '$gone' is still listed remotely"
done
run_ok "sync down after deletions" rc sync "G:$B/tree" "$W/down"
diff -r "$SRC" "$W/down" >"$W/down2.diff" || fail "tree synced down after deletions differs: $(head -n 20 "$W/down2.diff")"

log "cat / copyto / moveto / deletefile"
run_ok "cat" rc cat "G:$B/tree/alpha/beta/file-007.txt"
assert_eq "$OUT" "changed content" "rclone cat"
run_ok "copyto" rc copyto "G:$B/tree/alpha/médium.bin" "G:$B/other/copied médium.bin"
run_ok "moveto" rc moveto "G:$B/other/copied médium.bin" "G:$B/other/moved.bin"
run_ok "copyto local" rc copyto "G:$B/other/moved.bin" "$W/moved.out"
cmp "$SRC/alpha/médium.bin" "$W/moved.out" || fail "server-side copied + moved object differs from its source"
run_ok "md5sum" rc md5sum "G:$B/other"
assert_eq "${OUT%% *}" "$(md5sum <"$SRC/alpha/médium.bin" | cut -d' ' -f1)" "md5 of the server-side copied object"
run_ok "lsf other" rc lsf "G:$B/other"
assert_eq "$OUT" "moved.bin" "moveto removed the source"
run_ok "deletefile" rc deletefile "G:$B/other/moved.bin"

log "purge"
run_ok "lsd" rc lsd G:
assert_contains "$OUT" " $B" "lsd lists the bucket"
run_ok "purge" rc purge "G:$B"
run_ok "lsd after purge" rc lsd G:
case "$OUT" in *" $B"*) fail "bucket still listed after purge: $OUT" ;; esac

finish_granary
