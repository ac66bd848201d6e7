//! The `canopy` program built inside the end-to-end test package, so that tests can run it as
//! a separate process via `CARGO_BIN_EXE_canopy-e2e-bin`. Same entry point as `crates/6-canopy/src/main.rs`.

fn main() -> std::process::ExitCode {
    canopy::main_entry()
}
