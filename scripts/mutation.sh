#!/usr/bin/env bash
# Mutation testing of the core with cosmic-ray (docs/testing.md explains the choice and the scores).
# Not part of CI. Bounded: each module runs for at most --minutes minutes, one mutant at a time,
# niced, one thread; a rerun resumes the unfinished sessions (--fresh starts over).
#
#   scripts/mutation.sh [--minutes N] [--worktree] [--fresh] [MODULE ...]
#   MODULE: geometry sampling shape jpeg-container jpeg-markers jpeg-transforms codec navigation (default: all)
#
# The mutants are made in a scratch copy of the committed tree (HEAD; --worktree copies the working
# tree instead), never in this checkout, so nobody else's tests or edits see them. The copy is
# imported as resvr.core / resvr.viewer through a small package shim on PYTHONPATH (the editable
# install maps those names to this checkout; PYTHONPATH comes first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MINUTES=${MUTATION_MINUTES:-20}
WORK=${MUTATION_DIR:-/tmp/resvr-mutation}
SOURCE=head
FRESH=0
MODULES=()
while (($#)); do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --worktree) SOURCE=worktree; shift ;;
    --fresh) FRESH=1; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) MODULES+=("$1"); shift ;;
  esac
done
((${#MODULES[@]})) || MODULES=(geometry sampling shape jpeg-container jpeg-markers jpeg-transforms codec navigation)

PY=$ROOT/.venv/bin/python
# the tool lives in .venv only (pyproject.toml: [project.optional-dependencies] mutation)
if ! "$ROOT/.venv/bin/cosmic-ray" --version >/dev/null 2>&1; then
  "$ROOT/.venv/bin/pip" install -q "cosmic-ray>=8.7"
fi
CR=$ROOT/.venv/bin

# module -> file, the fast tests that cover it, and an optional line filter (python functions)
declare -A FILE TESTS FUNCS
MODELS_FAST="tests/test_models.py::test_dct_is_orthonormal_and_matches_formula tests/test_models.py::test_untrained_downsampler_is_bicubic_and_codec_roundtrip_is_near_lossless_at_fine_tables tests/test_models.py::test_encoded_file_is_standard_jpeg_at_target_bpp_and_decodes_like_the_model"
FILE[geometry]=core/geometry.py
TESTS[geometry]="tests/test_geometry_contract.py tests/test_geometry.py tests/test_shape_oracle.py tests/test_dps_shape.py"
FILE[sampling]=core/sampling.py
TESTS[sampling]="tests/test_sampling_contract.py tests/test_geometry.py tests/test_cli.py::test_reference_check_against_independent_renderer"
FILE[shape]=core/shape.py
TESTS[shape]="tests/test_shape_oracle.py tests/test_dps_shape.py"
FILE[jpeg-container]=core/jpeg/container.py
TESTS[jpeg-container]="tests/test_container.py tests/test_encode_quantise.py tests/test_models.py::test_dequantised_maps_follow_each_components_table"
# the marker parsing, XMP extraction and the strict entropy pass moved here from container.py
FILE[jpeg-markers]=core/jpeg/markers.py
TESTS[jpeg-markers]="tests/test_markers.py tests/test_container.py tests/test_imageio.py"
FILE[jpeg-transforms]=core/jpeg/transforms.py
TESTS[jpeg-transforms]="tests/test_sampling_contract.py tests/test_container.py tests/test_encode_quantise.py $MODELS_FAST"
FILE[codec]=core/models/codec.py
TESTS[codec]="tests/test_encode_quantise.py tests/test_container.py tests/test_models.py::test_dequantised_maps_follow_each_components_table $MODELS_FAST"
FUNCS[codec]="LearnedJPEG.tables LearnedJPEG.quantise dequantised_maps _per_channel"   # the quantisation
FILE[navigation]=viewer/navigation.py
TESTS[navigation]="tests/viewer/test_navigation.py tests/viewer/test_gl_widget.py"

# operators: mutmut's classic set (+ <-> -, * <-> /, ** -> *, // and % -> /, | <-> &, comparison
# boundaries and negations, unary minus, not, numbers, booleans, and/or, loops, exceptions);
# the other cosmic-ray binary/comparison swaps multiply the count without finding other bugs here
EXCLUDE='[
  "core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|Pow_Mul|FloorDiv_Div|Mod_Div|BitOr_BitAnd|BitAnd_BitOr)$)",
  "core/ReplaceComparisonOperator_(?!(Lt_LtE|Lt_GtE|LtE_Lt|LtE_Gt|Gt_GtE|Gt_LtE|GtE_Gt|GtE_Lt|Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is|In_NotIn|NotIn_In)$)",
  "core/ReplaceUnaryOperator_(?!(USub_UAdd|Delete_USub|Delete_Not)$)",
  "core/VariableReplacer", "core/VariableInserter", "core/RemoveDecorator"]'

mkdir -p "$WORK"
SRC=$WORK/src
if [[ $FRESH == 1 ]]; then rm -rf "$WORK/sessions"; fi
mkdir -p "$WORK/sessions" "$WORK/reports"
if [[ $SOURCE == head ]]; then REV=$(git rev-parse --short HEAD); else REV="$(git rev-parse --short HEAD)+worktree"; fi
export PYTHONPATH=$SRC/_pkgs OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen LIBGL_ALWAYS_SOFTWARE=1

fresh_copy() {  # a clean scratch tree for each module (a stopped run may leave a mutant in place)
  rm -rf "$SRC"
  mkdir -p "$SRC/_pkgs/resvr"
  if [[ $SOURCE == head ]]; then
    (cd "$ROOT" && git archive HEAD core viewer tests scripts pyproject.toml) | tar -x -C "$SRC"
  else
    (cd "$ROOT" && tar -c --exclude=__pycache__ core viewer tests scripts pyproject.toml) | tar -x -C "$SRC"
  fi
  ln -s "$SRC/core" "$SRC/_pkgs/resvr/core"
  ln -s "$SRC/viewer" "$SRC/_pkgs/resvr/viewer"
  cd "$SRC"
  [[ $("$PY" -c 'import resvr.core as c; print(c.__file__)') == "$SRC/_pkgs/resvr/core/__init__.py" ]] \
    || { echo "the scratch copy is not the one imported" >&2; exit 1; }
}

line_ranges() {  # FILE FUNC... -> TOML list of "a-b" line ranges of those functions
  "$PY" - "$@" <<'EOF'
import ast, sys
path, names = sys.argv[1], set(sys.argv[2:])
out = []
def walk(node, prefix=""):
    for n in ast.iter_child_nodes(node):
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            q = prefix + n.name
            if q in names:
                out.append(f'"{n.lineno}-{n.end_lineno}"')
            walk(n, q + ".")
walk(ast.parse(open(path).read()))
print("[" + ", ".join(out) + "]")
EOF
}

for m in "${MODULES[@]}"; do
  f=${FILE[$m]:-}; [[ -n $f ]] || { echo "unknown module $m" >&2; exit 2; }
  fresh_copy
  cfg=$WORK/sessions/$m.toml db=$WORK/sessions/$m.sqlite
  runner="$PY -m pytest -x -q -p no:cacheprovider -p no:randomly ${TESTS[$m]}"
  [[ $m == navigation ]] && runner="xvfb-run -a -s '-screen 0 1280x1024x24' env QT_QPA_PLATFORM=xcb $runner"
  {
    echo '[cosmic-ray]'
    echo "module-path = \"$f\""
    echo 'timeout = 90.0'
    echo 'excluded-modules = []'
    echo "test-command = \"nice -n 10 $runner\""
    echo '[cosmic-ray.distributor]'
    echo 'name = "local"'
    echo '[cosmic-ray.filters.operators-filter]'
    echo "exclude-operators = $EXCLUDE"
    if [[ -n ${FUNCS[$m]:-} ]]; then
      echo '[cosmic-ray.filters.line-filter]'
      echo "lines = { \"$f\" = $(line_ranges "$f" ${FUNCS[$m]}) }"
    fi
  } > "$cfg"
  if [[ ! -f $db ]]; then
    "$CR/cosmic-ray" init "$cfg" "$db"
    "$CR/cr-filter-operators" "$db" "$cfg"
    [[ -n ${FUNCS[$m]:-} ]] && "$CR/cr-filter-lines" --config "$cfg" "$db"
    "$CR/cr-filter-pragma" "$db"
  fi
  # the baseline must pass, or every mutant would count as killed
  if ! (eval "nice -n 10 $runner") >"$WORK/reports/$m.baseline.log" 2>&1; then
    echo "$m: the tests fail without mutations (see $WORK/reports/$m.baseline.log)" >&2; exit 1
  fi
  echo "== $m ($f, $REV): up to $MINUTES min"
  timeout --signal=INT "$((MINUTES * 60))" nice -n 10 "$CR/cosmic-ray" exec "$cfg" "$db" || true
  "$CR/cr-report" --show-pending "$db" > "$WORK/reports/$m.txt" || true
  "$PY" - "$db" "$m" <<'EOF'
import sqlite3, sys
db, m = sys.argv[1:]
c = sqlite3.connect(db)
rows = [(str(w).lower(), str(t).lower()) for w, t in
        c.execute("select worker_outcome, test_outcome from work_results").fetchall()]
total = c.execute("select count(*) from work_items").fetchone()[0]
skipped = sum(1 for w, t in rows if w == "skipped")
done = [(w, t) for w, t in rows if w != "skipped"]
killed = sum(1 for w, t in done if t in ("killed", "incompetent") or w == "abnormal")
survived = sum(1 for w, t in done if t == "survived")
pending = total - len(rows)
score = 100.0 * killed / max(1, killed + survived)
print(f"{m}: {killed} killed, {survived} survived, {pending} not run, {skipped} filtered out "
      f"-> score {score:.1f}% of the mutants run")
EOF
done
echo "reports (survivors with their diffs): $WORK/reports/<module>.txt"
