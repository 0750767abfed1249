# Observer — the few targets a newcomer needs.
#   make demo   daemon on the built-in KIS-protocol simulator, plus the console
#   make test   the whole test suite (creates .venv and installs everything first)
#   make check  ruff, mypy, import rules
#   make proto  regenerate protos/observer/v1/*_pb2*.py(i)
#   make bench  benchmarks that print figures (see README); make bench-backup for backups
#   make soak   long soak tests, kept out of `make test`
#   make faults the fault suite at full size, with its table of figures

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: venv demo demo-daemon daemon test soak faults check fmt proto docs bench bench-ingest bench-tail bench-console bench-stores bench-backup postgres restic clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# PostgreSQL server binaries for the store tests: installed when missing and we are root
# with apt-get (CI machines); the tests skip with the reason when they are still absent.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing PostgreSQL server binaries for the tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || true; \
		else echo "PostgreSQL binaries not found; PostgreSQL tests will be skipped"; fi; \
	fi

# restic, the backup engine (the daemon runs it; SeaweedFS's weed comes from PyPI in the dev
# extras): installed when missing and we are root with apt-get; the tests skip otherwise.
restic:
	@if ! command -v restic >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing restic for backups and their tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic >/dev/null || true; \
		else echo "restic not found; backup tests will be skipped (apt-get install restic)"; fi; \
	fi

# The daemon on its built-in simulator in the background (log: observer-runtime/demo-daemon.log)
# and the console in the foreground; quitting the console stops the daemon.
DEMO_PORT ?= 50051
DEMO_METRICS_PORT ?= 9464
# Said when the console starts and again when it ends (the console's screen hides the first).
DEMO_SAYS = echo "make demo: daemon on 127.0.0.1:$(DEMO_PORT) (log observer-runtime/demo-daemon.log);" \
	"its control token is in observer-runtime/demo-token (grpcurl -H \"authorization: Bearer \$$(cat observer-runtime/demo-token)\", see the README)"
demo: $(STAMP) restic
	@mkdir -p observer-runtime
	@test -s observer-runtime/demo-token || $(PY) -c 'import secrets; print(secrets.token_hex(16))' > observer-runtime/demo-token
	@$(VENV)/bin/observer-console --target 127.0.0.1:$(DEMO_PORT) status >/dev/null 2>&1; \
	if [ $$? -ne 2 ]; then \
		echo "make demo: something already answers on 127.0.0.1:$(DEMO_PORT), perhaps the daemon of an"; \
		echo "earlier demo (pgrep -af observer-daemon). Stop it first."; exit 1; \
	fi
	@token=$$(cat observer-runtime/demo-token); \
	OBSERVER_CONTAINER=false OBSERVER_CONTROL_TOKEN=$$token SERVICE_PORT=$(DEMO_PORT) \
		OBSERVER_METRICS_PORT=$(DEMO_METRICS_PORT) \
		$(VENV)/bin/observer-daemon run 2> observer-runtime/demo-daemon.log & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid 2>/dev/null; $(DEMO_SAYS)' EXIT INT TERM HUP; \
	for i in $$(seq 100); do \
		kill -0 $$pid 2>/dev/null || { cat observer-runtime/demo-daemon.log; exit 1; }; \
		$(VENV)/bin/observer-console --target 127.0.0.1:$(DEMO_PORT) status >/dev/null 2>&1; \
		[ $$? -ne 2 ] && break; sleep 0.2; \
	done; \
	$(DEMO_SAYS); \
	OBSERVER_CONTROL_TOKEN=$$token $(VENV)/bin/observer-console --target 127.0.0.1:$(DEMO_PORT)

# The daemon alone in the foreground, with a one-line status every few seconds.
demo-daemon: $(STAMP)
	$(VENV)/bin/observer-daemon demo

daemon: $(STAMP)
	$(VENV)/bin/observer-daemon run

test: $(STAMP) postgres restic
	$(PY) -m pytest -m "not soak" -p no:cacheprovider -q

# The fault suite at full size: prints the table the README carries (about 20 minutes).
faults: $(STAMP) postgres restic
	$(PY) -m tests.faults

soak: $(STAMP) postgres restic
	$(PY) -m pytest -m soak -p no:cacheprovider -q

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@mkdir -p build/typecheck/observer
	@ln -sfn ../../../daemon build/typecheck/observer/daemon
	@ln -sfn ../../../console build/typecheck/observer/console
	@ln -sfn ../../../protos/observer/v1 build/typecheck/observer/v1
	@ln -sfn ../../tests build/typecheck/tests
	@ln -sfn ../../bench build/typecheck/bench
	# strict for daemon/ and console/, relaxed for tests/ and bench/ (pyproject [tool.mypy])
	cd build/typecheck && MYPYPATH=. ../../$(PY) -m mypy --config-file ../../pyproject.toml \
		--explicit-package-bases $$(find -L observer/daemon observer/console tests bench \
		-name '*.py' -not -path '*/__snapshots__/*')
	$(PY) -m pytest -q -p no:cacheprovider tests/test_import_rules.py

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=protos --pyi_out=protos \
		--grpc_python_out=protos protos/observer/v1/*.proto

# The README's configuration table and the base ConfigMap, from the environment table.
docs: $(STAMP)
	$(PY) -m tests.regenerate

bench: bench-ingest bench-tail bench-stores bench-console bench-backup

bench-ingest: $(STAMP)
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) bench/ingest.py

bench-tail: $(STAMP)
	$(PY) bench/tail.py

bench-stores: $(STAMP) postgres
	$(PY) bench/stores.py

bench-console: $(STAMP)
	$(PY) bench/console.py

# 30 simulated trading days at 2 million ticks a day against SeaweedFS (about an hour here).
bench-backup: $(STAMP) restic
	$(PY) bench/backup.py $(BENCH_BACKUP_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
