//! `mmsg bench` where it cannot run (every OS but Linux): the benchmark measures mmsg
//! against Linux's own floors (`sendmmsg`/`recvmmsg` called directly, `UDP_SEGMENT` and
//! `UDP_GRO`, quinn-udp's GSO and GRO paths, the C and GLib peers) and reads Linux's drop
//! counter (`SO_MEMINFO`) to prove a drain lost nothing, so it is built on Linux only.
//! Here the command exists so that it says so, instead of being an unknown command.

/// Whatever was given to `mmsg bench`: nothing of it is used.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(
        num_args = 0..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        hide = true
    )]
    _ignored: Vec<String>,
}

/// Says the bench is not available here; returns exit status 1.
pub fn run(_: BenchArgs) -> i32 {
    let os = if cfg!(windows) {
        "Windows"
    } else {
        std::env::consts::OS
    };
    eprintln!(
        "mmsg: error: bench is not available on {os}: it measures mmsg against Linux's own \
         floors (sendmmsg/recvmmsg called directly, UDP GSO/GRO) and reads Linux's SO_MEMINFO \
         drop counter; run it on Linux (demo, send, sink and relay work here)"
    );
    crate::args::EXIT_FAILED
}
