//! The `canopy` binary: everything happens in the library's [`canopy_bot::main_entry`].

fn main() -> std::process::ExitCode {
    canopy_bot::main_entry()
}
