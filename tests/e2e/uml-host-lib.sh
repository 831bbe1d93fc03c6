# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Host-side helpers shared by run-uml.sh, run-uml-systemd.sh and the
# bench/uml-* commands. Source it.

# uml_xstate_shim DIR: builds uml-xstate-shim.c into DIR and prints the
# library's path, for LD_PRELOAD of linux.uml. Without it Debian's UML
# panics at its first guest process on a host with AVX-512 or AMX ("ptrace
# set fp regs failed, errno = 14": see the shim's comment); elsewhere it
# changes nothing (it only completes short NT_X86_XSTATE ptrace buffers).
uml_xstate_shim() {
	local src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/uml-xstate-shim.c
	gcc -O2 -fPIC -shared -o "$1/uml-xstate-shim.so" "$src" -ldl ||
		{ echo "uml: building $src failed" >&2; return 1; }
	echo "$1/uml-xstate-shim.so"
}
