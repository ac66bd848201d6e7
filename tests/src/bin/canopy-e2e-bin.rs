//! The `canopy` program built inside the end-to-end test package, so that tests can run it as
//! a separate process via `CARGO_BIN_EXE_canopy-e2e-bin`. Same entry point as `bot/src/main.rs`.

fn main() -> std::process::ExitCode {
    canopy_bot::main_entry()
}
