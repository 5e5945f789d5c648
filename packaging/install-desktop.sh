#!/usr/bin/env bash
# Install the desktop entry and icon of resvr-viewer for the current user (no root):
#   $XDG_DATA_HOME/applications/resvr-viewer.desktop
#   $XDG_DATA_HOME/icons/hicolor/scalable/apps/resvr-viewer.svg
# ($XDG_DATA_HOME defaults to ~/.local/share). The entry runs `resvr-viewer`, which `pip install`
# puts on PATH. `install-desktop.sh --uninstall` removes both files again.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APP=$DATA/applications/resvr-viewer.desktop
ICON=$DATA/icons/hicolor/scalable/apps/resvr-viewer.svg
if [[ ${1:-} == --uninstall ]]; then
    rm -f "$APP" "$ICON"
    echo "removed $APP and $ICON"
    exit 0
fi
if [[ $# -gt 0 ]]; then
    echo "usage: $0 [--uninstall]" >&2
    exit 2
fi
install -Dm644 "$HERE/resvr-viewer.desktop" "$APP"
install -Dm644 "$HERE/resvr-viewer.svg" "$ICON"
# refresh the menus' caches where the tools exist (harmless when they do not)
command -v update-desktop-database >/dev/null && update-desktop-database "$DATA/applications" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
command -v resvr-viewer >/dev/null || echo "note: resvr-viewer is not on PATH yet (pip install the package first)" >&2
echo "installed $APP and $ICON"
