//! The `nestci` binary: parse the command line, call the library, map the
//! outcome to an exit code. Everything else lives in the library.

fn main() {
    // The dind runtime re-executes this binary as its per-job shim; that
    // must happen before anything else starts (threads in particular).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(nestci::backend::dind::SHIM_ARG))
    {
        std::process::exit(nestci::backend::dind::shim_main());
    }
    let code = nestci::cli::main();
    std::process::exit(code);
}
