#!/usr/bin/env bash
# End of a training segment (docs/training.md): copy each campaign run's resumable checkpoint and
# its log into checkpoints/<name>/ (the log of the segment is appended to the committed log), so
# the next session resumes from committed files. Run it after the runs have stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in ${CAMPAIGN_RUNS:-resvr_staged ht_long dinn360}; do
  src=runs/$name dst=checkpoints/$name
  [ -f "$src/latest.pt" ] || { echo "$name: no $src/latest.pt, skipped"; continue; }
  mkdir -p "$dst"
  # append only the rows past the committed log's last iteration (a resumed run appends to its own log,
  # which may still hold earlier segments when runs/ survived between sessions)
  if [ -f "$dst/log.csv" ]; then
    last=$(tail -n 1 "$dst/log.csv" | cut -d, -f1)
    tail -n +2 "$src/log.csv" | awk -F, -v last="$last" '$1+0 > last+0' >> "$dst/log.csv"
  else cp "$src/log.csv" "$dst/log.csv"; fi
  cp "$src/latest.pt" "$dst/latest.pt.tmp" && mv "$dst/latest.pt.tmp" "$dst/latest.pt"
  echo "$name: $(tail -n 1 "$dst/log.csv" | cut -d, -f1) iterations -> $dst"
done
