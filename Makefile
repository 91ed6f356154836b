# Carbon Sink Workbench — two commands do everything on a fresh machine:
#   make demo   set up, build the demo province lake with its accounts, run the province's
#               annual report (reports/annual/2025/P43/) and show what is in the lake
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LAKE   ?= lake
SCALE  ?= small

.PHONY: demo test install system-deps lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setuptools warns on every editable install that a folder named like the package may shadow it:
# here that folder is the package itself, so the notice is silenced (nothing for a user to do).
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/python -c "from carbonlib import flux; flux.warm_up()"  # compile the gap-fill kernels once (numba cache)
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/carbon demo build --lake $(LAKE) --scale $(SCALE) --force  # replaces only a lake the demo built
	$(BIN)/carbon reports run --kind annual --period 2025 --org P43 --lake $(LAKE) --out reports
	$(BIN)/carbon lake info --lake $(LAKE)

# Browser tests and PDF reports use Debian's Chromium (`playwright install` cannot download
# here) and CJK fonts for Chinese labels; the security store's PostgreSQL test starts Debian's
# PostgreSQL server and the MQTT tests Debian's Mosquitto broker.  apt waits for another package
# manager to finish instead of failing.
DEBIAN_PACKAGES := chromium fonts-noto-cjk postgresql mosquitto
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/noto ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/sbin/mosquitto ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update && \
	    apt-get -o DPkg::Lock::Timeout=600 install -y $(DEBIAN_PACKAGES); \
	  else echo "need Debian packages $(DEBIAN_PACKAGES): sudo apt-get install -y $(DEBIAN_PACKAGES)"; exit 1; fi; \
	fi

test: install system-deps
	$(BIN)/python -m pytest

lock: $(BIN)/python
	{ echo '# Exact versions CI and `make` install (pip constraints). Regenerate with `make lock` after changing pyproject.toml.'; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf $(VENV) $(LAKE) build *.egg-info
