# Sourced by the scripts that run Raspberry Pi binaries under qemu-user
# (cross-test, pi-test, isa-matrix): installs QEMU, the cross linkers and
# the Rust targets when missing, and points cargo at them.

if [ "$(id -u)" = 0 ]; then
    need=()
    for p in qemu-user gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi
for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf thumbv7neon-unknown-linux-gnueabihf; do
    rustup target list --installed 2>/dev/null | grep -qx "$t" || rustup target add "$t"
done

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_THUMBV7NEON_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
# Binaries for each Pi ISA run as `$qemu_a64 CPU BINARY...` / `$qemu_a32 CPU BINARY...`.
qemu_a64() { QEMU_CPU=$1 qemu-aarch64 -L /usr/aarch64-linux-gnu "${@:2}"; }
qemu_a32() { QEMU_CPU=$1 qemu-arm -L /usr/arm-linux-gnueabihf "${@:2}"; }
