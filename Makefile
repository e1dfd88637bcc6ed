# Two commands do all the set-up on a fresh clone: `make sweep` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup sweep test test-fast faces article article-long article-faces article-widths bench tensorboard clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

sweep: $(STAMP)
	$(BIN)/python -m harness.train -m experiment=default

# two worker processes, each test file in one (its tests share fixtures and folders), each
# with its share of the cores (tests/conftest.py): faster than one process on 2 cores (README)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

# the cartoon faces (data=faces): npm pack, integrity checked, the faces kept under data/faces/;
# ARCHIVE=/path/to/emoji-datasource-google-16.0.0.tgz for a tarball fetched elsewhere
faces: $(STAMP)
	$(BIN)/python -m harness.data.faces --root data $(if $(ARCHIVE),--archive $(ARCHIVE))

article: $(STAMP)
	$(BIN)/python -m harness.train -m experiment=raw_pixel_gan

article-long: $(STAMP)
	$(BIN)/python -m harness.train -m experiment=raw_pixel_gan_long
	$(BIN)/python -m harness.train -m experiment=raw_pixel_gan_colour

# the faces study (data=faces; `make faces` first): 1.5 hours on the 2-core CPU (measured)
article-faces: faces
	$(BIN)/python -m harness.train -m experiment=raw_pixel_gan_faces

# how the gap scales with width, digits then faces: 2.1 hours then 45 min on the 2-core CPUs (measured)
article-widths: faces
	$(BIN)/python -m harness.train -m experiment=raw_pixel_gan_widths
	$(BIN)/python -m harness.train -m experiment=raw_pixel_gan_faces_widths

bench: $(STAMP)
	$(BIN)/python -m harness.bench

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir logs

clean:
	rm -rf $(VENV) outputs multirun logs
