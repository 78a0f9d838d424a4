#!/usr/bin/env bash
# Builds the Debian package of this checkout and checks it with lintian:
#   packaging/deb/build.sh [OUT_DIR]      (default: build-deb/ in the checkout)
# then: sudo apt install ./build-deb/drift-exporter_<version>_amd64.deb
#
# The work tree's files that git tracks or would track (committed or not) are copied to a
# temporary folder with packaging/deb/debian/ as its debian/, and dpkg-buildpackage builds the binary packages there
# (debhelper compat 13, CMake). The version is debian/changelog's, which tests/packaging checks
# against CMake's project(VERSION); the revision the binary reports is the commit's, with
# "-dirty" when tracked files differ from it. dpkg-buildpackage dates every file and the man
# page from debian/changelog (SOURCE_DATE_EPOCH), so two builds of one commit give the same
# bytes (tests/packaging builds twice and compares).
#
# Environment: DRIFT_DEB_LINTIAN=0 skips lintian.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mkdir -p "${1:-$repo/build-deb}" && cd "${1:-$repo/build-deb}" && pwd)"
"$repo/packaging/deps.sh" --deb

revision="$(git -C "$repo" rev-parse --short=12 HEAD)"
git -C "$repo" diff --quiet HEAD -- || revision+="-dirty"
version="$(dpkg-parsechangelog -l "$repo/packaging/deb/debian/changelog" -S Version)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
src="$work/drift-exporter-$version"
mkdir "$src"
# The files git tracks or would track (not ignored), as they are in the work tree; a file deleted
# but not yet committed is left out.
git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
  tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
cp -r "$repo/packaging/deb/debian" "$src/debian"

echo "building drift-exporter $version (revision $revision) in $src" >&2
(cd "$src" && DRIFT_REVISION="$revision" dpkg-buildpackage -b -us -uc -j"$(nproc)")

arch="$(dpkg --print-architecture)"
changes="$work/drift-exporter_${version}_${arch}.changes"
if [[ "${DRIFT_DEB_LINTIAN:-1}" != 0 ]]; then
  # Errors and warnings fail; debian/*.lintian-overrides holds the documented exceptions.
  lintian --fail-on error,warning --display-info "$changes" >&2
fi
# The .changes names every file built (.deb, -dbgsym .deb, .buildinfo).
for f in $(sed -n '/^Files:/,/^[^ ]/s/^ [0-9a-f]\{32\} [0-9]* [^ ]* [^ ]* //p' "$changes") "$(basename "$changes")"; do
  cp "$work/$f" "$out/"
done
echo "$out/drift-exporter_${version}_${arch}.deb"
