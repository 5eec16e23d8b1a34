fn main() -> std::process::ExitCode {
    granary::cli::main()
}
