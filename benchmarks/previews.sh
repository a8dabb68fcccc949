#!/usr/bin/env bash
# Regenerate the preview sheets in docs/previews (issue 4): four shared clips, four attributes,
# the shipped model at its defaults. Each sheet: original face crops on top, edited below.
# Usage: benchmarks/previews.sh [strength]   (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
ST=.venv/bin/stitchtime
VIDEOS=../shared/data/videos
STRENGTH=${1:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p docs/previews
while read -r clip attr; do
    name=$(basename "$clip" .mp4)_$attr
    $ST edit "$VIDEOS/$clip" --attr "$attr" --strength "$STRENGTH" --preview -q -o "$TMP/$name.mp4"
    cp "$TMP/$name.preview.png" "docs/previews/$name.png"
    echo "docs/previews/$name.png"
done <<'LIST'
retalking_face_3.mp4 smile
liveportrait_driving_d3.mp4 age
retalking_face_5.mp4 gender
liveportrait_driving_d6.mp4 mouth_open
LIST
