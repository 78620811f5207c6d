fn main() -> std::process::ExitCode {
    pharos::cli::main()
}
