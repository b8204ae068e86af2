# weft: make, make check, make bench, make install (PREFIX, DESTDIR),
# make deb (build/weft_VERSION_ARCH.deb: deploy/debian, docs/deploy.md),
# make image (localhost/weft:VERSION and :latest, from the package: deploy/image).
# V=1 shows full commands; WERROR=1 turns warnings into errors;
# SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer into build-san/.

VERSION := 0.1.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
# The daemons, which only root runs.
SBINDIR ?= $(PREFIX)/sbin
# Where the runtime looks for CNI plugins (CNI_PATH): weft-cni goes there as
# "weft" and "wg-cni", the plugin types it answers to.
CNIBINDIR ?= /opt/cni/bin
DESTDIR ?=
CC ?= cc

ifeq ($(FUZZ),1)
BUILD := build-fuzz
CC := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
OPT ?= -O1
else ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT ?= -O1
else
BUILD ?= build
SANFLAGS :=
OPT ?= -O2
endif

PKGS := libcrypto libsodium libmnl jansson sqlite3 libcurl libmicrohttpd libnftables libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcrypto -lsodium -lmnl -ljansson -lsqlite3 -lcurl -lmicrohttpd -lnftables -lsystemd)

WARN := -Wall -Wextra -Wshadow -Wpointer-arith -Wmissing-prototypes -Wstrict-prototypes \
	-Wno-unused-parameter -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif

CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DWEFT_VERSION='"$(VERSION)"' $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP -Ilib $(PKG_CFLAGS)
ALL_LDFLAGS := -Wl,--as-needed $(LDFLAGS) $(SANFLAGS)
LIBS := $(PKG_LIBS) -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC := $(sort $(wildcard lib/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A := $(BUILD)/libweft.a

PROGS := weft-wg weft-cni weftd weft-manager weft
PROG_BIN := $(PROGS:%=$(BUILD)/%)

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

all: $(PROG_BIN) $(UNIT_BIN) $(TOOL_BIN) $(BENCH_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

WEFT_CNI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/weft-cni/*.c)))

$(BUILD)/weft-cni: $(WEFT_CNI_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

WEFTD_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/weftd/*.c)))

$(BUILD)/weftd: $(WEFTD_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

MANAGER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/weft-manager/*.c)))

$(BUILD)/weft-manager: $(MANAGER_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

# weft, the command line; its parts but main.o are also linked into
# tests/unit/test_cli.c.
WEFT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/weft/*.c)))
WEFT_PARTS := $(filter-out $(BUILD)/src/weft/main.o,$(WEFT_OBJ))

$(BUILD)/weft: $(WEFT_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/weft-wg: $(BUILD)/src/weft-wg/main.o $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

TEST_HELPERS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
TEST_HELPER_OBJ := $(TEST_HELPERS:%.c=$(BUILD)/%.o)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_HELPER_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/tests/test_cli: $(BUILD)/tests/unit/test_cli.o $(WEFT_PARTS) $(TEST_HELPER_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LIBS)

# libFuzzer harnesses (clang), one per parser: build-fuzz/fuzz_*.
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)

fuzz:
	$(MAKE) FUZZ=1 fuzz-bins

fuzz-bins: $(FUZZ_BIN)

build-fuzz/fuzz_cni: $(BUILD)/fuzz/fuzz_cni.o $(BUILD)/src/weft-cni/static.o $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer $^ -o $@ $(LIBS)

build-fuzz/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/tests/unit/sim.o $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer $^ -o $@ $(LIBS)

# The full suite: unit tests, then the namespace tests (root). Ends with "N passed, N failed".
check: all
	tests/run

unit: all
	tests/run --unit

bench: all
	bench/run

bench-cni: all
	bench/cni

bench-manager: all
	bench/manager

bench-podtopod: all
	bench/podtopod

install: $(PROG_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(CNIBINDIR)
	install -m 0755 $(BUILD)/weft $(BUILD)/weft-wg $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/weftd $(BUILD)/weft-manager $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/weft-cni $(DESTDIR)$(CNIBINDIR)/weft
	ln -sf weft $(DESTDIR)$(CNIBINDIR)/wg-cni

# The Debian package, from a build of its own with Debian's hardening
# flags (dpkg-buildflags: fortify, stack protector, relro, bind now) and no
# test or sanitizer code: deploy/debian/build says how.
deb: export DEB_BUILD_MAINT_OPTIONS = hardening=+all
deb:
	$(MAKE) BUILD=build/deb/obj CFLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" $(PROGS:%=build/deb/obj/%)
	deploy/debian/build build/deb/obj $(VERSION) build

# The OCI image, from Debian 12's archive and the package; PODMAN may carry
# storage options (the tests' own store).
PODMAN ?= podman
image: deb
	PODMAN="$(PODMAN)" deploy/image/build build/weft_$(VERSION)_$$(dpkg --print-architecture).deb $(VERSION)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all check unit bench bench-cni bench-manager bench-podtopod install deb image clean fuzz fuzz-bins
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
