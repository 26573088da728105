#!/usr/bin/env bash
# One-time machine set-up for SharpGlance on Debian 12 (idempotent; quick when everything is there).
#   - the Debian packages the project reads at run time:
#       fonts-dejavu-core       text in the PNG charts we draw
#       fonts-noto-color-emoji  the emoji glyphs of the synthetic world (SPEC §11)
#       unicode-cldr-core       their English names (CLDR annotations)
#       wordnet-base            WordNet 3.0, METEOR's synonym module (SPEC §12)
#       libopenblas0-openmp     the fast fp32 GEMM of the CPU inference path
#       ffmpeg                  ffmpeg/ffprobe, which decode a video's frames for `glance video`
#   - with --test, what the test suite needs besides (a user who only captions does not get a browser):
#       chromium chromium-driver  the web page of `glance serve`, driven through Selenium (ServeBrowserTests)
#       rabbitmq-server           a broker the queue tests start on their own ports (QueueTests); its
#                                 Debian service is not needed (in a container without systemd it does not start)
#   - a check that the .NET 10 SDK is on PATH.
set -euo pipefail

packages=(fonts-dejavu-core fonts-noto-color-emoji unicode-cldr-core wordnet-base libopenblas0-openmp ffmpeg)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(chromium chromium-driver rabbitmq-server) ;;
    *) echo "setup: unknown option $arg (usage: bash scripts/setup.sh [--test])" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null || ! dotnet --list-sdks | grep -q '^10\.'; then
  echo "setup: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)" >&2
  exit 1
fi
