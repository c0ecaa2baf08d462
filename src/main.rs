//! `cargo run --release`: the Kiln service (see `kiln_app::main` and `--help`).

fn main() -> std::process::ExitCode {
    kiln_app::main()
}
