//! The `canopy` binary: everything happens in the library's [`canopy::main_entry`].

fn main() -> std::process::ExitCode {
    canopy::main_entry()
}
