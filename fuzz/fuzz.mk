# fuzz/fuzz.mk: the libFuzzer targets, built with clang (-fsanitize=fuzzer,address,undefined)
# against the core compiled without OpenMP (fuzz/include/omp.h). The top Makefile's
# `make fuzz` runs `build` then `run`; `replay` runs every target once over its corpus.
#   make -f fuzz/fuzz.mk build               -> build/fuzz/fuzz_{png,jpeg,safetensors,idx,checkpoint,nifti}
#   make -f fuzz/fuzz.mk run FUZZ_SECONDS=60  fuzz each target that long; fails on any finding
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= png jpeg safetensors idx checkpoint nifti
LUA_VERSION  ?= 5.4

PKG_CFLAGS := $(shell pkg-config --cflags lua$(LUA_VERSION) openblas libpng libcjson 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs openblas libpng libcjson 2>/dev/null || echo -lopenblas -lpng16 -lcjson)
LUA_LIBS   := $(shell pkg-config --libs lua$(LUA_VERSION) 2>/dev/null || echo -llua$(LUA_VERSION))
SAN        := -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS_F   := -std=c11 -D_POSIX_C_SOURCE=200809L -DLT_FUZZING -g -O1 -fno-omit-frame-pointer $(SAN) \
              -Ifuzz/include -Icsrc -Wno-unknown-pragmas $(PKG_CFLAGS) -isystem /usr/include/nifti
# the core's strict warnings are the main build's job (here OpenMP's variables look unused)
HARNESS_W  := -Wall -Wextra
LIBS_F     := $(PKG_LIBS) -lniftiio -lznz -ljpeg -lz -lm -lpthread

CORE_OBJS := $(patsubst csrc/%.c,$(FUZZ_BUILD)/obj/%.o,$(sort $(wildcard csrc/*.c)))
CORE_LIB  := $(FUZZ_BUILD)/libcore.a
BINS      := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: build run replay corpus
build: $(BINS)

$(FUZZ_BUILD)/obj/%.o: csrc/%.c $(wildcard csrc/*.h) fuzz/include/omp.h fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_F) -fsanitize=fuzzer-no-link -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $(CORE_OBJS)

$(FUZZ_BUILD)/fuzz_png: fuzz/fuzz_image.c fuzz/fuzz_common.h fuzz/fuzz.mk $(CORE_LIB)
	$(FUZZ_CC) $(CFLAGS_F) $(HARNESS_W) -fsanitize=fuzzer -DFUZZ_FORMAT=1 $< $(CORE_LIB) $(LIBS_F) -o $@
$(FUZZ_BUILD)/fuzz_jpeg: fuzz/fuzz_image.c fuzz/fuzz_common.h fuzz/fuzz.mk $(CORE_LIB)
	$(FUZZ_CC) $(CFLAGS_F) $(HARNESS_W) -fsanitize=fuzzer -DFUZZ_FORMAT=2 $< $(CORE_LIB) $(LIBS_F) -o $@
$(FUZZ_BUILD)/fuzz_safetensors: fuzz/fuzz_safetensors.c fuzz/fuzz_common.h fuzz/fuzz.mk $(CORE_LIB)
	$(FUZZ_CC) $(CFLAGS_F) $(HARNESS_W) -fsanitize=fuzzer $< $(CORE_LIB) $(LIBS_F) -o $@
$(FUZZ_BUILD)/fuzz_idx: fuzz/fuzz_idx.c fuzz/fuzz_common.h fuzz/fuzz.mk $(CORE_LIB)
	$(FUZZ_CC) $(CFLAGS_F) $(HARNESS_W) -fsanitize=fuzzer $< $(CORE_LIB) $(LIBS_F) -o $@
$(FUZZ_BUILD)/fuzz_nifti: fuzz/fuzz_nifti.c fuzz/fuzz_common.h fuzz/fuzz.mk $(CORE_LIB)
	$(FUZZ_CC) $(CFLAGS_F) $(HARNESS_W) -fsanitize=fuzzer $< $(CORE_LIB) $(LIBS_F) -o $@
$(FUZZ_BUILD)/fuzz_checkpoint: fuzz/fuzz_checkpoint.c fuzz/fuzz_common.h fuzz/fuzz.mk $(CORE_LIB)
	$(FUZZ_CC) $(CFLAGS_F) $(HARNESS_W) -fsanitize=fuzzer -DLUNET_ROOT='"$(CURDIR)"' $< \
	  $(CORE_LIB) $(LUA_LIBS) $(LIBS_F) -o $@

run: build
	@sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

replay: build
	@sh fuzz/run.sh $(FUZZ_BUILD) replay $(FUZZ_TARGETS)

# Rewrites the committed seed corpora (fuzz/make_corpus.lua) with the in-tree lunet.
corpus:
	@$(MAKE) --no-print-directory all
	LUA_PATH='$(CURDIR)/?.lua;$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/build/lua/?.lua;$(CURDIR)/build/lua/?/init.lua;;' \
	  LUA_CPATH='$(CURDIR)/build/?.so;;' lua$(LUA_VERSION) fuzz/make_corpus.lua
