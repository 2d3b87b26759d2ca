//! Compiles the C test code with `_FORTIFY_SOURCE`, so its `recv`, `read`
//! and `poll` become glibc's `__recv_chk`, `__read_chk` and `__poll_chk`.

fn main() {
    println!("cargo:rerun-if-changed=c/blocking.c");
    cc::Build::new()
        .file("c/blocking.c")
        .opt_level(2)
        .define("_FORTIFY_SOURCE", "2")
        .warnings(true)
        .compile("corio_ctest");
}
