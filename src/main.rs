//! The `nestci` binary: parse the command line, call the library, map the
//! outcome to an exit code. Everything else lives in the library.

fn main() {
    let code = nestci::cli::main();
    std::process::exit(code);
}
