#!/bin/sh
# Turns a diesel `migrations/` folder of a git repository into pgwarden's layout: one
# `V<n>__<folder>.sql` per migration folder (its up.sql), numbered in date order (diesel's
# folder names start with the date). Used for the crates.io and Lemmy measurements in
# docs/benchmarks.md:
#   benches/real_corpora.sh /path/to/crates.io.git <commit> /tmp/cratesio
#   target/debug/pgwarden --policy /nonexistent.toml lint /tmp/cratesio --output-format json
set -eu
git_dir=$1
commit=$2
out=$3
mkdir -p "$out"
n=0
for folder in $(git --git-dir="$git_dir" ls-tree -d --name-only "$commit:migrations" | sort); do
    git --git-dir="$git_dir" cat-file -e "$commit:migrations/$folder/up.sql" 2>/dev/null || continue
    n=$((n + 1))
    name=$(printf '%s' "$folder" | tr -c 'A-Za-z0-9_' '_')
    git --git-dir="$git_dir" show "$commit:migrations/$folder/up.sql" >"$out/V${n}__${name}.sql"
done
echo "$n migrations in $out"
