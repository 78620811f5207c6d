/// mimalloc: rendering and importing allocate many small strings on every core; the system
/// allocator measured about 15 % of a full build's time (see README, Performance).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pharos::cli::main()
}
