# lunet: build the C module, run specs, benchmarks, demo, sanitizer build.
#   make          build build/lunet/core.so
#   make test     install missing Debian packages (as root), build, run every spec
#   make demo     the main job: train and evaluate a real model
#   make bench    lunet vs PyTorch, side by side
#   make asan     specs under AddressSanitizer + UBSan
#   make tsan     two Lua states training in two threads under ThreadSanitizer
#   make rock     source rock of this working tree: build/rock/lunet-scm-1.src.rock
#   make env      prints the exports that run lunet from this tree: eval "$(make -s env)"
LUA_VERSION ?= 5.4
LUA         ?= lua$(LUA_VERSION)
LUA_INC     ?= $(shell pkg-config --cflags lua$(LUA_VERSION) 2>/dev/null || echo -I/usr/include/lua$(LUA_VERSION))
BLAS_CFLAGS ?= $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   ?= $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
PNG_CFLAGS  ?= $(shell pkg-config --cflags libpng 2>/dev/null)
PNG_LIBS    ?= $(shell pkg-config --libs libpng 2>/dev/null || echo -lpng16)
CJSON_CFLAGS ?= $(shell pkg-config --cflags libcjson 2>/dev/null)
CJSON_LIBS  ?= $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
NIFTI_CFLAGS ?= -isystem /usr/include/nifti
NIFTI_LIBS  ?= -lniftiio -lznz
EXTRA_LIBS  ?= -ljpeg -lz -lm

CC      ?= cc
# Portable by default (make, luarocks, the rock): baseline x86-64 code that runs on any CPU of
# the architecture; the hot kernels carry their own AVX2/AVX-512 variants (x86-64-v3/v4:
# csrc/lt_isa.h, and lt_gemm.c / lt_conv.c) chosen at run time from the CPU probe, as
# OpenBLAS does. `make NATIVE=1` tunes the whole build for this CPU (-march=native) instead.
NATIVE  ?= 0
OPT     ?= -O3 -fno-semantic-interposition $(if $(filter 1,$(NATIVE)),-march=native)
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wstrict-prototypes
CFLAGS  ?= -g
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC -fopenmp $(WARN) $(OPT) $(CFLAGS) $(LUA_INC) \
             $(BLAS_CFLAGS) $(PNG_CFLAGS) $(CJSON_CFLAGS) $(NIFTI_CFLAGS)
# no -fopenmp at link time: csrc/lt_omp.c is the OpenMP runtime (GOMP entry points) of core.so
LIBS    = $(BLAS_LIBS) $(PNG_LIBS) $(CJSON_LIBS) $(NIFTI_LIBS) $(EXTRA_LIBS)

BUILD   ?= build
SRCS    := $(sort $(wildcard csrc/*.c))
OBJS    := $(SRCS:csrc/%.c=$(BUILD)/obj/%.o)
MODULE  := $(BUILD)/lunet/core.so
# lunet.distributed.core (csrc/mpi/, plus the option checker) links Open MPI; lunet.core never
# does. Built only where Open MPI's compiler wrapper is found.
MPICC       ?= $(shell command -v mpicc 2>/dev/null)
MPI_CFLAGS  ?= $(patsubst -I%,-isystem %,$(if $(MPICC),$(shell $(MPICC) --showme:compile 2>/dev/null)))
MPI_LIBS    ?= $(if $(MPICC),$(shell $(MPICC) --showme:link 2>/dev/null))
DIST_OBJS   := $(patsubst csrc/%.c,$(BUILD)/obj/dist/%.o,$(sort $(wildcard csrc/mpi/*.c)) csrc/lua_opts.c csrc/lt_omp.c)
DIST_MODULE := $(if $(MPI_LIBS),$(BUILD)/lunet/distributed/core.so)

LUA_PATH_DEV  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/$(BUILD)/lua/?.lua;$(CURDIR)/$(BUILD)/lua/?/init.lua;;
LUA_CPATH_DEV := $(CURDIR)/$(BUILD)/?.so;;
RUN = LUA_PATH='$(LUA_PATH_DEV)' LUA_CPATH='$(LUA_CPATH_DEV)'
DEB_PKGS := make gcc libc6-dev pkg-config lua5.4 liblua5.4-dev libopenblas-dev libpng-dev \
            libjpeg62-turbo-dev zlib1g-dev libcjson-dev libnifti2-dev lua-busted luarocks
# real data the dataset specs and the demo read (no network besides Debian's archive)
DATA_PKGS := dataset-fashion-mnist labelme-examples tuxpaint-stamps-default
DEMO_PKGS := gnuplot-nox
# lunet.distributed (csrc/mpi/) and its specs: Open MPI
MPI_PKGS  := openmpi-bin libopenmpi-dev
# examples/serve (make serve, spec/serve_spec.lua): lighttpd with mod_magnet, curl
SERVE_PKGS := lighttpd lighttpd-modules-lua curl
SERVE_PORT ?= 8088
# the references make bench measures lunet against (never needed by make test or CI)
BENCH_PKGS := python3-torch python3-numpy python3-pil python3-opencv python3-skimage python3-scipy
SPECS ?= spec

PREFIX      ?= /usr/local
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
INST_BINDIR ?= $(PREFIX)/bin

.PHONY: all deps test demo serve bench asan tsan clean install rock env
all: $(MODULE) $(BUILD)/lua/lunet/models $(DIST_MODULE)

# The compile flags of the last build in $(BUILD): a change (NATIVE=1, OPT, CFLAGS) rebuilds.
FLAGS_STAMP := $(BUILD)/obj/cflags.txt
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS)' > $@
.PHONY: FORCE
FORCE:

$(BUILD)/obj/%.o: csrc/%.c $(wildcard csrc/*.h) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# -z nodelete: the OpenMP workers (csrc/lt_omp.c) outlive lua_close, so core.so must stay mapped.
$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(CFLAGS) -shared -Wl,-z,nodelete -o $@ $(OBJS) $(LIBS)
	@! nm -u $@ | grep -E ' (GOMP_|omp_)' || { echo "csrc/lt_omp.c must forward the OpenMP entry points above"; rm -f $@; exit 1; }

# lunet.distributed.core
$(BUILD)/obj/dist/%.o: csrc/%.c $(wildcard csrc/*.h csrc/mpi/*.h) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -fvisibility=hidden -c $< -o $@
$(BUILD)/lunet/distributed/core.so: $(DIST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(CFLAGS) -shared -Wl,-z,nodelete -o $@ $(DIST_OBJS) $(MPI_LIBS)
	@! nm -u $@ | grep -E ' (GOMP_|omp_)' || { echo "csrc/lt_omp.c must answer the OpenMP entry points above"; rm -f $@; exit 1; }

# models/ holds lunet.models.*; expose it under the module path for in-tree runs.
$(BUILD)/lua/lunet/models:
	@mkdir -p $(BUILD)/lua/lunet
	ln -sfn $(CURDIR)/models $@

deps:
	@sh tools/deps.sh $(DEB_PKGS)

test:
	@sh tools/deps.sh $(DEB_PKGS) $(DATA_PKGS) $(MPI_PKGS) $(SERVE_PKGS)
	@$(MAKE) --no-print-directory all
	@$(RUN) sh tools/run_specs.sh $(LUA) $(SPECS)

demo:
	@sh tools/deps.sh $(DEB_PKGS) $(DATA_PKGS) $(DEMO_PKGS)
	@$(MAKE) --no-print-directory all
	@$(RUN) $(LUA) examples/demo.lua

# The segmentation endpoint in lighttpd (examples/serve) with the demo's Tux Paint U-Net on
# http://127.0.0.1:$(SERVE_PORT)/ (or the next free port); trains the model first (the demo's
# Tux Paint part, a few minutes) when out/tuxpaint.safetensors does not exist. Ctrl-C stops.
serve:
	@sh tools/deps.sh $(DEB_PKGS) $(DATA_PKGS) $(SERVE_PKGS)
	@$(MAKE) --no-print-directory all
	@[ -f out/tuxpaint.safetensors ] || { echo "serve: no out/tuxpaint.safetensors yet: training the demo's Tux Paint model"; \
	  $(RUN) $(LUA) examples/demo.lua --only tuxpaint; }
	@$(RUN) $(LUA) examples/serve/model.lua --checkpoint out/tuxpaint.safetensors
	@$(RUN) $(LUA) examples/serve/launch.lua --model out/serve/tuxpaint_serve.safetensors --port $(SERVE_PORT) --workers 2 --threads 1

bench:
	@sh tools/deps.sh $(DEB_PKGS) $(DATA_PKGS) $(BENCH_PKGS) $(MPI_PKGS) $(SERVE_PKGS) || \
	  echo "bench: reference packages missing: the parts that need them print so and skip"
	@$(MAKE) --no-print-directory all
	@$(RUN) sh bench/run.sh

# intercept_tls_get_addr=0: gcc 12's LeakSanitizer guesses the extent of a dlopen'ed library's
# dynamic TLS block (libjpeg's, in lua5.4 and lighttpd) with a glibc-2.19 heuristic: when
# the block's malloc address happens to be 16 bytes past a page boundary it reads the ASan
# chunk header as {start, size} and the exit-time leak scan dies with "Tracer caught signal
# 11" (DTLS at 0xfd-0x8000011ff), depending only on how many bytes were allocated before.
# Otherwise the block is recorded with size 0 and never scanned, so nothing is lost.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=gcc OPT=-O1 \
	  CFLAGS="-g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" \
	  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0:intercept_tls_get_addr=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LUA_PATH='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/build-asan/lua/?.lua;$(CURDIR)/build-asan/lua/?/init.lua;;' \
	  LUA_CPATH='$(CURDIR)/build-asan/?.so;;' LUNET_ASAN=1 sh tools/run_specs.sh $(LUA) $(SPECS)

# ThreadSanitizer: the core and examples/embed/threads (two Lua states training the same model
# in two threads, then one storage shared by two states in two threads) built with
# -fsanitize=thread; any report fails the run (exit status 66); then tools/tsan_train.lua, one
# state training on 2 compute threads, so that the kernels' parallel regions run on lunet's
# OpenMP runtime (csrc/lt_omp.c, instrumented like the rest of the core) under TSan. OpenBLAS is
# not instrumented; tools/tsan.supp silences the internals of such libraries only.
TSAN_BUILD := $(CURDIR)/build-tsan
tsan:
	@sh tools/deps.sh $(DEB_PKGS)
	@$(MAKE) --no-print-directory BUILD=build-tsan CC=gcc OPT=-O1 \
	  CFLAGS="-g -fno-omit-frame-pointer -fsanitize=thread" all
	@echo "tsan: building build-tsan/threads and running it under ThreadSanitizer"
	@gcc -std=c11 -D_POSIX_C_SOURCE=200809L -pthread -O1 -g -fno-omit-frame-pointer -fsanitize=thread \
	  $(WARN) $(LUA_INC) -Icsrc -DLUNET_ROOT='"$(CURDIR)"' -DLUNET_BUILD='"$(TSAN_BUILD)"' \
	  -o $(TSAN_BUILD)/threads examples/embed/threads.c $(TSAN_BUILD)/lunet/core.so \
	  $$(pkg-config --libs lua$(LUA_VERSION) 2>/dev/null || echo -llua$(LUA_VERSION))
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66 ignore_noninstrumented_modules=1 suppressions=$(CURDIR)/tools/tsan.supp" \
	  $(TSAN_BUILD)/threads
	@echo "tsan: one state training on 2 compute threads (tools/tsan_train.lua)"
	@LD_PRELOAD="$$(gcc -print-file-name=libtsan.so)" \
	  TSAN_OPTIONS="halt_on_error=1 exitcode=66 ignore_noninstrumented_modules=1 suppressions=$(CURDIR)/tools/tsan.supp" \
	  LUA_PATH='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(TSAN_BUILD)/lua/?.lua;$(TSAN_BUILD)/lua/?/init.lua;;' \
	  LUA_CPATH='$(TSAN_BUILD)/?.so;;' $(LUA) tools/tsan_train.lua

# make fuzz: libFuzzer harnesses of the loaders (fuzz/, Debian clang), each run FUZZ_SECONDS;
# fails on any crash, leak, timeout or sanitizer report. See fuzz/README.md.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_PKGS    := clang libclang-rt-14-dev
.PHONY: fuzz
fuzz:
	@sh tools/deps.sh $(DEB_PKGS) $(FUZZ_PKGS)
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk FUZZ_CC=$(FUZZ_CC) FUZZ_SECONDS=$(FUZZ_SECONDS) run

# Installs lunet.core and the Lua side (lua/lunet/**, models/ as lunet.models).
install: $(MODULE) $(DIST_MODULE)
	mkdir -p $(INST_LIBDIR)/lunet $(INST_LUADIR)/lunet/models
	cp $(MODULE) $(INST_LIBDIR)/lunet/core.so
	$(if $(DIST_MODULE),install -D -m 755 $(DIST_MODULE) $(INST_LIBDIR)/lunet/distributed/core.so)
	cd lua && find lunet -name '*.lua' -exec install -D -m 644 {} $(INST_LUADIR)/{} \;
	find models -maxdepth 1 -name '*.lua' -exec install -m 644 {} $(INST_LUADIR)/lunet/models/ \;
	install -D -m 755 bin/lunet $(INST_BINDIR)/lunet

# A source rock of the working tree (tracked and untracked files git does not ignore; the
# whole tree, less build output, outside git): the tree as build/rock/lunet-scm-1.tar.gz, the
# rockspec with its source pointed at that file, and `luarocks pack`, which zips the two.
ROCK_DIR = $(abspath $(BUILD))/rock
rock:
	@rm -rf $(ROCK_DIR) && mkdir -p $(ROCK_DIR)/lunet-scm-1
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null; \
	else tar --exclude=./build --exclude=./build-asan --exclude=./out --exclude=./.git -cf - .; fi \
	  | tar -xf - -C $(ROCK_DIR)/lunet-scm-1
	@cd $(ROCK_DIR) && tar -czf lunet-scm-1.tar.gz lunet-scm-1 && rm -rf lunet-scm-1
	@sed '/^source = {/,/^}/c\source = { url = "file://$(ROCK_DIR)/lunet-scm-1.tar.gz", dir = "lunet-scm-1" }' \
	  lunet-scm-1.rockspec > $(ROCK_DIR)/lunet-scm-1.rockspec
	@cd $(ROCK_DIR) && luarocks --lua-version=$(LUA_VERSION) pack lunet-scm-1.rockspec >/dev/null
	@rm -f $(ROCK_DIR)/lunet-scm-1.tar.gz $(ROCK_DIR)/lunet-scm-1.rockspec
	@echo "$(ROCK_DIR)/lunet-scm-1.src.rock"
	@echo "install it: luarocks --lua-version=$(LUA_VERSION) install $(ROCK_DIR)/lunet-scm-1.src.rock [--tree DIR]"

# Exports for running lunet from this tree (after make): eval "$$(make -s env)"
env:
	@echo "export LUA_PATH='$(LUA_PATH_DEV)'"
	@echo "export LUA_CPATH='$(LUA_CPATH_DEV)'"
	@echo "export PATH='$(CURDIR)':\"\$$PATH\""

clean:
	rm -rf build build-asan build-tsan
