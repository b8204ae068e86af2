# SPDX-License-Identifier: MIT
# Shared by the tests that build the OCI image and run it (17_image.sh,
# 77_kubernetes.sh), sourced after lib.sh:
#
#   image_setup PREFIX TOOL...   $T (mktemp /tmp/PREFIX.XXXXXX); a podman
#                                store of the test's own in $T, removed on
#                                exit with everything in it; skips the test
#                                (and exits) in the sanitizer pass, or
#                                without a TOOL
#   image_conf [CNI-BIN CNI-CONF]   $CONTAINERS_CONF: runc, not crun (cgroups
#                                in hybrid mode), no rlimits (../shared/notes);
#                                with CNI's plugin and configuration
#                                directories when given
#   $PODMAN                      podman on that store; $P the same in $NS1

image_cleanup() {
	$PODMAN pod rm -af -t 0 >/dev/null 2>&1
	$PODMAN rm -af -t 0 >/dev/null 2>&1
	$PODMAN rmi -af >/dev/null 2>&1
	cleanup
	rm -rf "$T"
}

image_setup() {
	local tool
	T=$(mktemp -d "/tmp/$1.XXXXXX")
	shift
	PODMAN="podman --root $T/storage --runroot $T/run-podman --storage-driver vfs"
	P="nsenter --net=/run/netns/$NS1 $PODMAN"
	trap image_cleanup EXIT
	if [ "$BUILD" = build-san ]; then
		# The image holds the package's own build (make deb), which has
		# no sanitizer: it is checked once, in the plain pass.
		skip "the image is built from the package, not from $BUILD"
		finish
		exit
	fi
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { skip "$tool is not installed (scripts/install-deps installs it)"; finish; exit; }
	done
}

image_conf() {
	{
		if [ $# = 2 ]; then
			printf '[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["%s", "/usr/lib/cni"]\n' "$1"
			printf 'network_config_dir = "%s"\n' "$2"
		fi
		printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\nevents_logger = "none"\n'
	} >"$T/containers.conf"
	export CONTAINERS_CONF=$T/containers.conf
}
