//! `usagelens-collector`: see `usagelens-collector --help`.

fn main() -> std::process::ExitCode {
    usagelens_collector::main()
}
