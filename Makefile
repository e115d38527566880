# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shortcuts for the scripts in scripts/; the README's set-up and test
# commands stay `bash scripts/setup.sh` and `bash scripts/test.sh`.
#
#   make series [OUTDIR=dir]   the series with a cover letter, checkpatch'ed
#   make patches               regenerate patches/ from series/
#   make qemu                  build patched QEMU (build/qemu-src/build)
#   make check-docs            the QEMU manual with our page, Sphinx -W
#   make check-bisect          build and test QEMU at every patch
#   make test                  everything scripts/test.sh runs

OUTDIR ?= build/series-out

.PHONY: series patches qemu check-docs check-bisect test

series:
	bash scripts/series.sh $(OUTDIR)

patches:
	bash scripts/make-series.sh

qemu:
	bash scripts/qemu-build.sh

check-docs:
	bash scripts/check-docs.sh
	bash scripts/check-qemu-docs.sh

check-bisect:
	bash scripts/check-bisect.sh

test:
	bash scripts/test.sh
