fn main() -> std::process::ExitCode {
    // glibc gives every thread its own malloc arena. Files parsed and pages rendered on worker
    // threads, then kept by the main thread, fragment those arenas: peak RSS of a full build
    // grows well beyond the data. Two arenas are enough for a 2-core machine's work.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called before any other thread exists; it only tunes the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    pharos::cli::main()
}
