//! `cargo run --release`: the Kiln service (see `kiln::app::main` and `--help`).

fn main() -> std::process::ExitCode {
    kiln::app::main()
}
