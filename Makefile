# Two commands matter: `make run` (the whole platform, embedded, on http://127.0.0.1:8000)
# and `make test` (the whole suite, real PostgreSQL and Kafka included). Each sets up .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
KAFKA_LIBS := deploy/kafka/target/kafka-libs

.PHONY: run test test-unit bench bench-national chaos lint up down kafka-libs lock clean

# The development environment: the runtime pins (requirements.lock, what images get) plus the tools.
$(BIN)/.installed: requirements-dev.lock requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-virtualenv -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

run: $(BIN)/.installed
	PORT=$(PORT) $(BIN)/p2kp run

# The Kafka broker's jars come from Maven Central once; ~/.m2 caches them afterwards.
$(KAFKA_LIBS)/.done: deploy/kafka/pom.xml
	mvn -B -q -Dstyle.color=never --no-transfer-progress -f deploy/kafka/pom.xml package
	touch $@

kafka-libs: $(KAFKA_LIBS)/.done

test: $(BIN)/.installed
	@if command -v java >/dev/null && command -v mvn >/dev/null; then $(MAKE) --no-print-directory kafka-libs; \
	  else echo "no java/mvn: the Kafka integration tests will not find a broker"; fi
	@deploy/ensure-postgres.sh
	@deploy/ensure-chromium.sh
	@deploy/ensure-faketime.sh
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The fault-injection suite's long profile: 40 commands/s for a minute around each fault (make test
# runs the short one, 15/s for 6 s). Prints each fault's figures.
chaos: $(BIN)/.installed kafka-libs
	@deploy/ensure-postgres.sh
	@deploy/ensure-faketime.sh
	P2KP_CHAOS_PROFILE=long $(BIN)/pytest -q -s tests/chaos

test-unit: $(BIN)/.installed
	$(BIN)/pytest -q tests/unit

bench: $(BIN)/.installed kafka-libs
	@deploy/ensure-postgres.sh
	$(BIN)/python -m bench

# Issue 9's national scale: 275 cities, 11,275 kelurahan, 3 years, at least ten million events; about half
# an hour on two cores. BENCH_NATIONAL_ARGS=--quick for a smoke run (see python -m bench.national --help).
bench-national: $(BIN)/.installed kafka-libs
	@deploy/ensure-postgres.sh
	$(BIN)/python -m bench.national $(BENCH_NATIONAL_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check shared services tests bench
	$(BIN)/ruff format --check shared services tests bench
	$(BIN)/mypy shared services

up:
	docker compose up -d --build

down:
	docker compose down

# Re-pin every dependency (needs the registry): edit pyproject.toml, then `make lock`. The runtime
# lock is constrained by the development one, so both always name the same versions.
lock: $(BIN)/.installed
	$(BIN)/pip-compile -q --no-emit-find-links --extra dev --strip-extras -o requirements-dev.lock pyproject.toml
	$(BIN)/pip-compile -q --no-emit-find-links --strip-extras -c requirements-dev.lock \
	  -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
