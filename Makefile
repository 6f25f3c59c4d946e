# nnbench — see README.md. The two set-up commands are `make run` and `make test`.

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
# SAN=1 builds the whole tree with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/.
SAN     ?=
OPT     ?= -O2
VERSION := 0.1.0

# FUZZ=1 builds the tree with clang's coverage for libFuzzer (make fuzz) into build-fuzz/.
FUZZ    ?=
ifeq ($(FUZZ),1)
CC      := clang
BUILD   := build-fuzz
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
           -Wno-pass-failed  # omp simd loops the instrumentation keeps from vectorising
LDFLAGS += -fsanitize=address,undefined
endif

# Sanitizer builds live beside the normal one.
ifeq ($(SAN),1)
BUILD   := build-asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

MODULES   := nn datasets model compiler simulators harness
SRCS      := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
MAIN_SRC  := harness/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRC),$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(MAIN_SRC:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libnnbench.a
BIN       := $(BUILD)/nnbench
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
NODE_TESTS := $(BUILD)/onnx-node-tests

# The ONNX protobuf code is generated from the onnx.proto Debian's libonnx-dev ships.
ONNX_PROTO := /usr/include/onnx/onnx.proto
GEN        := $(BUILD)/gen
PB_C       := $(GEN)/onnx/onnx.pb-c.c
PB_H       := $(GEN)/onnx/onnx.pb-c.h
PB_OBJ     := $(GEN)/onnx/onnx.pb-c.o
LIB_OBJS   += $(PB_OBJ)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# OpenBLAS built on OpenMP shares one thread pool with our own OpenMP loops;
# the pthread build would oversubscribe the cores (OpenMP threads spin while
# OpenBLAS threads work).
BLAS_DIR    := /usr/lib/x86_64-linux-gnu/openblas-openmp
HDF5_CFLAGS := $(shell pkg-config --cflags hdf5 2>/dev/null)
HDF5_LIBS   := $(shell pkg-config --libs hdf5 2>/dev/null)
MPI_CFLAGS  := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS    := $(shell pkg-config --libs ompi-c 2>/dev/null)
COMMIT      := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -Werror -fopenmp -D_GNU_SOURCE -DNNBENCH_VERSION='"$(VERSION)"' \
           -I. -I$(GEN) $(HDF5_CFLAGS) $(MPI_CFLAGS) -I$(BLAS_DIR:/usr/lib/%=/usr/include/%) -MMD -MP
LDLIBS  += $(HDF5_LIBS) $(MPI_LIBS) -lpthread -lprotobuf-c -liniparser -lcsv -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lz -lm -fopenmp


# Debian packages the project needs (build, test, data). python3-torch is only for `make bench`.
DEB_PKGS := build-essential pkg-config clang libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools \
            libcsv-dev gnuplot-nox libcmocka-dev libiniparser-dev libopenblas-openmp-dev \
            protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata zlib1g-dev \
            dataset-fashion-mnist libclang-rt-14-dev libomp-14-dev valgrind
BENCH_PKGS := python3-torch python3-numpy

.PHONY: all deps bench-deps run test unit unit-asan node-tests e2e bad-inputs memcheck fuzz fuzz-replay clang-check bench zoo install clean

all: $(BIN)

# Idempotent and silent when everything is installed.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing $$missing"; \
	    SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

bench-deps: deps
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(BENCH_PKGS)"

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(PB_C) $(PB_H): $(ONNX_PROTO)
	@mkdir -p $(GEN)
	protoc-c -I$(dir $(ONNX_PROTO)).. --c_out=$(GEN) onnx/onnx.proto

$(PB_OBJ): $(PB_C)
	$(CC) $(CFLAGS) -c $< -o $@

# Every object may include the generated header.
$(filter-out $(PB_OBJ),$(LIB_OBJS)) $(MAIN_OBJ): | $(PB_H)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -lcmocka -o $@

# The main job: the quick sweep (results/quick.h5, results/quick/ CSV and figures).
run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN) configs/quick.ini

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done

unit-asan:
	@$(MAKE) --no-print-directory SAN=1 unit node-tests bad-inputs fuzz-replay

# Every malformed input of tests/bad_inputs/cases.txt: its status and message
# (also under the sanitizers, through unit-asan).
bad-inputs: $(BIN)
	@NNBENCH=./$(BIN) sh tests/bad_inputs/run.sh

# ONNX's own backend node tests through the importer and the float executor.
$(NODE_TESTS): tests/onnx/node_tests.c $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

node-tests: $(NODE_TESTS)
	@./$(NODE_TESTS)

# Fuzzing (issue 8): one libFuzzer target per parser (tests/fuzz/fuzz_*.c).
# `make fuzz` builds them with clang, seeds each corpus from the project's own
# valid files (tests/fuzz/seeds.sh) and runs each for FUZZ_SECONDS; crashes go
# to build-fuzz/crashes/TARGET/. Inputs worth keeping live in
# tests/fuzz/regressions/TARGET/, which `make test` replays under ASan/UBSan.
FUZZ_TARGETS := hw sweep model_ini onnx model_h5 program_h5 idx cifar
FUZZ_SECONDS ?= 60
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
REPLAY_BINS  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< tests/fuzz/replay.c $(LIB) $(LDLIBS) -o $@

fuzz: deps
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS) $(BIN)

# Every kept regression input and every seed, once, through the targets.
fuzz-replay: $(REPLAY_BINS) $(BIN)
	@sh tests/fuzz/replay.sh $(BUILD) $(FUZZ_TARGETS)

# valgrind on an end-to-end compile + simulate of lenet5 (issue 8): no error,
# no definite leak. Small calibration and test sets keep it under a minute.
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
memcheck: $(BIN)
	@d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; export NNBENCH_ENV_SETTLED=1; \
	$(VALGRIND) ./$(BIN) compile models/lenet5.h5 --hw tianji-ann --strategy full --dataset mnist \
	    --limit 50 --set tune.calib=64 -o $$d/lenet5.h5 >/dev/null && \
	$(VALGRIND) ./$(BIN) simulate $$d/lenet5.h5 --dataset mnist --limit 100 >/dev/null && \
	echo "memcheck: valgrind clean on compile (full) + simulate of lenet5"

# The tree must also compile without warnings under clang. nn/ is compiled,
# not only parsed: clang reports an `omp simd` loop it cannot vectorise only
# from the optimiser (-Wpass-failed, an error under -Werror).
clang-check: $(PB_H)
	@command -v clang >/dev/null || { echo "clang-check: clang not installed, skipped"; exit 0; }; \
	for f in $(SRCS) $(UNIT_SRCS) tests/onnx/node_tests.c $(wildcard tests/fuzz/*.c); do \
	    clang $(filter-out -MMD -MP,$(CFLAGS)) -fsyntax-only $$f || exit 1; done; \
	for f in $(wildcard nn/*.c); do \
	    clang $(filter-out -MMD -MP,$(CFLAGS)) -c $$f -o /dev/null || exit 1; done; \
	echo "clang-check: $(words $(SRCS) $(UNIT_SRCS) tests/onnx/node_tests.c $(wildcard tests/fuzz/*.c)) files clean"

e2e: $(BIN)
	@NNBENCH=./$(BIN) sh tests/e2e/run.sh
	@NNBENCH=./$(BIN) sh tests/e2e/sweep.sh
	@NNBENCH=./$(BIN) sh tests/e2e/faults.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory clang-check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory node-tests
	@$(MAKE) --no-print-directory memcheck
	@$(MAKE) --no-print-directory e2e

bench: bench-deps
	@$(MAKE) --no-print-directory all $(BUILD)/nnbench-bench
	sh bench/run.sh ./$(BIN)
	sh bench/sim_bench.sh ./$(BIN)
	sh bench/sweep_bench.sh ./$(BIN)

# The benchmark driver (bench/run.sh runs it next to $(BIN)).
$(BUILD)/nnbench-bench: bench/bench.c $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# Retrains every zoo model with its default recipe (seeded, reproducible).
zoo: deps
	@$(MAKE) --no-print-directory all
	sh tools/zoo.sh ./$(BIN)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/nnbench
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/nnbench
	cp -r configs $(DESTDIR)$(PREFIX)/share/nnbench/

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d)

# The results of a sweep record the commit of the build that ran it.
$(BUILD)/harness/cmd_sweep.o: CFLAGS += -DNNBENCH_COMMIT='"$(COMMIT)"'
$(BUILD)/harness/cmd_sweep.o: $(wildcard .git/logs/HEAD)
