//! Link settings of the `sluice` binary.

fn main() {
    // Pack the binary's relative relocations (DT_RELR, glibc 2.36+): the
    // usual table is ~2 MiB, read at every start and kept resident, and it
    // is most of what the process holds when idle. The binary stays
    // position-independent, so address randomisation is unchanged.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
