# Build a C operator project with make. In the project's Makefile:
#
#   WEIR_SDK := path/to/weir/operators-sdk/c
#   OUT := my-operator.wasm            # optional
#   include $(WEIR_SDK)/weir.mk
#
# `make` then builds $(OUT) from the project's *.c and src/*.c files (see
# weir-build-c, which does the work), rebuilding when a source, a header or
# the SDK changes; `make clean` removes it. Include this file before your own
# targets, or set .DEFAULT_GOAL, so that `all` stays the default goal.
#
# Variables:
#   WEIR_SDK   the SDK directory (required)
#   OUT        the component to write (default: <project dir name>.wasm)
#   PROJECT    the project directory (default: the directory make runs in)
#   WEIR_CFLAGS, WEIR_LDFLAGS, WEIR_CLANG, WASI_SYSROOT, WASM_TOOLS,
#   WEIR_WASI_ADAPTER are passed through to weir-build-c.

ifndef WEIR_SDK
$(error set WEIR_SDK to the C SDK directory (operators-sdk/c of the Weir repository) before including weir.mk)
endif

PROJECT ?= $(CURDIR)
OUT ?= $(notdir $(abspath $(PROJECT))).wasm

WEIR_PROJECT_FILES := $(wildcard $(PROJECT)/*.c $(PROJECT)/*.h $(PROJECT)/src/*.c $(PROJECT)/src/*.h \
	$(PROJECT)/include/*.h)
WEIR_SDK_FILES := $(wildcard $(WEIR_SDK)/src/*.c $(WEIR_SDK)/src/*.h $(WEIR_SDK)/include/*.h \
	$(WEIR_SDK)/gen/*) $(WEIR_SDK)/weir-build-c

.PHONY: all clean

all: $(OUT)

$(OUT): $(WEIR_PROJECT_FILES) $(WEIR_SDK_FILES)
	$(WEIR_SDK)/weir-build-c $(PROJECT) -o $@

clean:
	rm -f $(OUT)
